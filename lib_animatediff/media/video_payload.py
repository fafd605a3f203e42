"""Video input as an API client sends it: a path on the server, a base64 video (or a data URL
of one), or a list of base64 images, the frames in order.

A remote client has no path on the server to give, so the data it sends is written into a
folder the job owns (removed when the job leaves) and read from there like any video or frame
folder. Whatever is wrong is an ``AnimateDiffError`` naming the field (422 over the API); a
payload is never repeated in a message or the log, only its first characters.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..errors import shorten
from .video_input import VideoInputError

PAYLOAD_FORMATS = "MP4, WEBM, GIF, WEBP or MOV"
MIN_PAYLOAD_CHARACTERS = 64  # shorter text is taken for a path, however it decodes
MAX_PATH_CHARACTERS = 4096
MAX_SHOWN_PATH = 260


def video_suffix(data: bytes) -> str | None:
    """The file suffix of a video or animated image from its first bytes; None when unknown."""
    if data[4:8] == b"ftyp":
        return ".mov" if data[8:12] == b"qt  " else ".mp4"
    if data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return ".mov"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return ".webm"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


def video_input_path(value: Any, field: str, job_folder: Callable[[], Path]) -> Path | None:
    """A server path holding the video or frames of ``value`` (None when empty): the path it
    names, or what it carries written under ``job_folder()`` (a video file or a frame folder)."""
    if value is None or (isinstance(value, (str, list, tuple)) and not value):
        return None
    if isinstance(value, (list, tuple)):
        return _write_frames(value, field, job_folder())
    if not isinstance(value, str):
        raise VideoInputError(f"AnimateDiff argument {field!r} must be a path, base64 video or list of base64 images, got {type(value).__name__}")
    text = value.strip()
    if _is_server_path(text):
        return Path(text)
    data = _base64_payload(text, field)
    if data is None:
        shown = text if len(text) <= MAX_SHOWN_PATH else shorten(text)  # a path is shown whole, what may be data is not
        raise VideoInputError(f"AnimateDiff argument {field!r}: video input not found: {shown}")
    suffix = video_suffix(data)
    if suffix is None:
        raise VideoInputError(f"AnimateDiff argument {field!r}: the base64 data ({len(data)} bytes) is not an {PAYLOAD_FORMATS} video")
    path = job_folder() / f"video{suffix}"
    path.write_bytes(data)
    return path


def _is_server_path(text: str) -> bool:
    if len(text) > MAX_PATH_CHARACTERS or "\n" in text or text.startswith("data:"):
        return False
    try:
        return Path(text).exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL
        return False


def _base64_payload(text: str, field: str) -> bytes | None:
    """The bytes of a data URL or of base64 text long enough to be a video; None for text that
    is neither (a path that does not exist)."""
    if text.startswith("data:"):
        header, _, encoded = text.partition(",")
        if not header.endswith(";base64"):
            raise VideoInputError(f"AnimateDiff argument {field!r}: a data URL must be base64 ({shorten(header)})")
    elif len(text) >= MIN_PAYLOAD_CHARACTERS:
        encoded = text
    else:
        return None
    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        if text.startswith("data:"):
            raise VideoInputError(f"AnimateDiff argument {field!r}: the data URL's base64 does not decode") from None
        return None


def _write_frames(values: Sequence[Any], field: str, folder: Path) -> Path:
    """Each base64 image of ``values`` as a PNG frame in ``folder``, in order."""
    for index, value in enumerate(values):
        image = _decode_image(value, f"AnimateDiff argument {field!r}: image {index}")
        image = image if image.mode in ("RGB", "RGBA", "L", "LA", "P") else image.convert("RGB")  # masks keep their alpha
        image.save(folder / f"{index:05d}.png", format="PNG")
    return folder


def _decode_image(value: Any, where: str) -> Image.Image:
    if isinstance(value, Image.Image):
        return value
    if not isinstance(value, str) or not value.strip():
        raise VideoInputError(f"{where} is not base64 text ({type(value).__name__})")
    encoded = value.partition(",")[2] if value.startswith("data:") else value
    try:
        image = Image.open(io.BytesIO(base64.b64decode("".join(encoded.split()), validate=True)))
        image.load()
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError):
        raise VideoInputError(f"{where} does not decode as an image ({shorten(value)})") from None
    return image
