"""Images as the UI and the API hand them over."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..errors import AnimateDiffError


def decode_image(value: Any, field: str = "image") -> Image.Image | None:
    """A PIL image from a PIL image, a base64 string (optionally a data URL), or None/""."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, str):
        encoded = value.split(",", 1)[1] if value.startswith("data:") else value
        try:
            return Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))).convert("RGB")
        except (binascii.Error, ValueError, UnidentifiedImageError) as error:
            raise AnimateDiffError(f"AnimateDiff argument {field!r} is not a base64-encoded image: {error}") from None
    raise AnimateDiffError(f"AnimateDiff argument {field!r} must be an image or base64 text, got {type(value).__name__}")
