"""The one place that holds what the extension has changed in the running WebUI.

It lives in the library rather than the script file because A1111 re-executes script files
on "Reload UI" while imported packages stay: a change made before a reload is still found
and undone after it. Every job starts by healing whatever an earlier one left behind.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ..downloads.tasks import Downloads
from ..log import logger
from ..model.hashing import HashCache, short_hash
from ..model.injection import VideoInCall
from ..model.installed import InstalledModules
from ..model.loader import load_motion_module
from ..model.motion_module import MotionModuleSet
from ..undo import UndoStack


class WebUIChanges:
    def __init__(self) -> None:
        self._undo: UndoStack | None = None
        self._modules: dict[tuple[str, int, int], MotionModuleSet] = {}
        self._hashes: HashCache | None = None
        self.installed = InstalledModules()
        self.downloads = Downloads()
        # frames per video of the model call now running, while a job samples (for layers
        # other extensions call without a frame count: SparseCtrl's motion modules)
        self.video: VideoInCall | None = None

    @property
    def active(self) -> bool:
        return self._undo is not None and len(self._undo) > 0

    def begin(self) -> UndoStack:
        """A fresh record of changes for a new job, after undoing any an earlier job left."""
        self.heal()
        self._undo = UndoStack()
        return self._undo

    def end(self) -> None:
        """Undo everything recorded since ``begin``."""
        undo, self._undo = self._undo, None
        if undo is not None:
            undo.undo_all()

    @contextmanager
    def changes(self) -> Iterator[UndoStack]:
        """``begin`` … ``end`` around a block."""
        undo = self.begin()
        try:
            yield undo
        finally:
            self.end()

    def heal(self) -> bool:
        if not self.active:
            self._undo = None
            return False
        logger.warning("restoring the WebUI from a job that did not finish cleanly")
        self.end()
        return True

    def motion_modules(self, path: Path) -> MotionModuleSet:
        """The loaded module set of a file, kept while the file is unchanged (one at a time)."""
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._modules:
            self._modules.clear()
            self._modules[key] = load_motion_module(path)
            logger.info("loaded %s (%s)", path.name, self._modules[key].family.title)
        return self._modules[key]

    def hashes(self, cache_file: Path) -> HashCache:
        """The hashes of model files, kept in ``cache_file``."""
        if self._hashes is None or self._hashes.cache_file != cache_file:
            self._hashes = HashCache(cache_file)
        return self._hashes

    def short_hash(self, path: Path, cache_file: Path) -> str:
        """The file's sha256 as infotext shows it, computed once per file version."""
        return short_hash(self.hashes(cache_file).sha256(path))

    def forget_modules(self) -> None:
        """Drop the loaded motion modules (the next job loads its file again)."""
        if self.active:
            logger.info("a job is running: the motion modules are freed when it ends")
            return
        self._modules.clear()
        _release_memory()
        logger.info("motion modules freed")

    def modules_to_cpu(self) -> None:
        """Move the loaded motion modules to the CPU (the next job moves them back)."""
        if self.active:
            logger.info("a job is running: the motion modules stay where they are")
            return
        for modules in self._modules.values():
            modules.to("cpu")
        _release_memory()
        logger.info("motion modules moved to the CPU")


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


WEBUI = WebUIChanges()
