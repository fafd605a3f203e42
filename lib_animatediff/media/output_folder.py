"""Where a job's outputs go: a folder inside the WebUI's outputs folder, and numbered names."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import AnimateDiffError


def safe_output_folder(outputs_root: Path, requested: str | Path | None, default_subdir: Path) -> Path:
    """The folder to write into: ``requested`` (relative to ``outputs_root``, or absolute) or
    ``outputs_root/default_subdir``; anything resolving outside ``outputs_root`` (``..``, an
    absolute path elsewhere, a symlink pointing out) raises ``AnimateDiffError``.
    """
    root = Path(outputs_root).resolve()
    if requested is None or not str(requested).strip():
        candidate = root / default_subdir
        label = str(default_subdir)
    else:
        candidate = Path(str(requested).strip())
        label = str(requested)
        if not candidate.is_absolute():
            candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise AnimateDiffError(f"output folder {label!r} is outside the outputs folder {root}")
    return resolved


_STEM_NUMBER = re.compile(r"^(\d+)-")


def next_stem(folder: Path, seed: int, request_id: str = "") -> str:
    """``NNNNN-SEED[-REQUEST_ID]``, NNNNN one more than the highest number starting a name in ``folder``."""
    highest = -1
    folder = Path(folder)
    if folder.is_dir():
        for entry in folder.iterdir():
            match = _STEM_NUMBER.match(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
    stem = f"{highest + 1:05d}-{seed}"
    return f"{stem}-{request_id}" if request_id else stem
