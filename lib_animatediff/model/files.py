"""Finding motion-module files in the model folder (recursively)."""

from __future__ import annotations

from pathlib import Path

from ..errors import MotionModuleFileError
from .state_dict_io import SUPPORTED_SUFFIXES


def list_motion_modules(folder: Path) -> list[str]:
    """Supported files under ``folder``, as sorted paths relative to it ('/'-separated)."""
    if not folder.is_dir():
        return []
    files = (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
    return sorted((p.relative_to(folder).as_posix() for p in files), key=str.lower)


def find_motion_module(folder: Path, name: str) -> Path:
    """The file a user or API client named: a path relative to the folder, or a file name."""
    available = list_motion_modules(folder)
    if not name:
        if not available:
            raise MotionModuleFileError(f"no motion modules in {folder}; put .safetensors/.ckpt/.pth files there")
        return folder / available[0]
    matches = [rel for rel in available if rel == name or rel.rsplit("/", 1)[-1] == name or Path(rel).stem == name]
    if not matches:
        listing = ", ".join(available) or "none"
        raise MotionModuleFileError(f"motion module {name!r} not found in {folder}; available: {listing}")
    return folder / matches[0]
