"""A plain animated-GIF writer (the full set of output formats builds on the same rules)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from PIL import Image


def write_gif(frames: Sequence[Image.Image], path: str | Path, fps: float, loop: int = 0) -> Path:
    """Write ``frames`` at ``fps``; ``loop`` 0 repeats forever. No partial file on failure."""
    if not frames:
        raise ValueError("no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".gif.tmp")
    os.close(fd)
    try:
        first, *rest = frames
        first.save(temporary, format="GIF", save_all=True, append_images=rest, duration=round(1000 / fps), loop=loop)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
