"""The loaded motion modules, kept between jobs while their file is unchanged."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import torch

from ..log import logger
from .loader import load_motion_module
from .motion_module import MotionModuleSet


class ModuleCache:
    """One file's motion modules at a time (a module set is about 1.7 GB in float32).

    ``busy()`` says whether a job is sampling with them now: freeing or moving them then waits
    for the next time (the job's own changes put them back where it found them).
    """

    def __init__(self, busy: Callable[[], bool] = lambda: False) -> None:
        self._modules: dict[tuple[str, int, int], MotionModuleSet] = {}
        self._busy = busy

    def get(self, path: Path) -> MotionModuleSet:
        """The loaded module set of ``path``, loaded again when the file has changed."""
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._modules:
            self._modules.clear()
            self._modules[key] = load_motion_module(path)
            logger.info("loaded %s (%s)", path.name, self._modules[key].family.title)
        return self._modules[key]

    def forget(self) -> None:
        """Drop the loaded motion modules (the next job loads its file again)."""
        if self._busy():
            logger.info("a job is running: the motion modules are freed when it ends")
            return
        self._modules.clear()
        release_memory()
        logger.info("motion modules freed")

    def to_cpu(self) -> None:
        """Move the loaded motion modules to the CPU (the next job moves them back)."""
        if self._busy():
            logger.info("a job is running: the motion modules stay where they are")
            return
        for modules in self._modules.values():
            modules.to("cpu")
        release_memory()
        logger.info("motion modules moved to the CPU")


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
