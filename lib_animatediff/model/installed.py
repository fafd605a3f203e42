"""The motion modules in the model folder, each with its family, for the accordion's dropdown and the API.

The family is detected from the file's keys and shapes only: a safetensors header, or a
pickle opened memory-mapped, so listing a folder of multi-GB files stays quick. Results are
kept per file version (size and modification time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..log import logger
from .detection import detect_layout
from .families import BaseModel, MotionModuleFamily
from .files import list_motion_modules
from .state_dict_io import SAFETENSORS_SUFFIXES, StateDict, load_pickle, unwrap_state_dict

_MARK = re.compile(r"\s+\[[^\[\]]*\]$")


@dataclass(frozen=True)
class InstalledModule:
    name: str  # the file, relative to the model folder
    family: MotionModuleFamily | None

    @property
    def label(self) -> str:
        """What the dropdown shows: the name and, in brackets, the family."""
        return f"{self.name} [{self.family.title if self.family else 'not a motion module'}]"


def strip_mark(value: str) -> str:
    """The file name in a dropdown label (``"mm.ckpt [AnimateDiff v2]"`` → ``"mm.ckpt"``)."""
    return _MARK.sub("", value)


def shapes_of(path: Path) -> StateDict:
    """The file's tensors as shape-only (meta) tensors, without reading their data."""
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as file:
            raw = {key: torch.empty(file.get_slice(key).get_shape(), device="meta") for key in file.keys()}
    else:
        raw = load_pickle(path, mmap=True)
    return unwrap_state_dict(raw, path.name)


def describe(path: Path, name: str) -> InstalledModule:
    try:
        return InstalledModule(name, detect_layout(shapes_of(path), path.name).family)
    except Exception as error:  # noqa: BLE001 - any unreadable file is left out of the list, never fatal
        logger.info("%s is not a usable motion module: %s: %s", name, type(error).__name__, error)
        return InstalledModule(name, None)


class InstalledModules:
    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], InstalledModule] = {}

    def entries(self, folder: Path) -> list[InstalledModule]:
        """Every supported file under ``folder``, in name order, with its family."""
        entries = []
        for name in list_motion_modules(folder):
            path = folder / name
            stat = path.stat()
            key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            if key not in self._known:
                self._known[key] = describe(path, name)
            entries.append(self._known[key])
        return entries

    def choices(self, folder: Path, base: BaseModel | None) -> list[str]:
        """Dropdown labels of the motion modules that fit a checkpoint of ``base`` (all
        readable ones when no checkpoint is loaded)."""
        fitting = [e for e in self.entries(folder) if e.family is not None and (base is None or e.family.base is base)]
        return [entry.label for entry in fitting]
