"""Images from the API (base64, data URLs) and the UI (PIL)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.media.images import decode_image


def _png_base64(color=(10, 200, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (5, 3), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_base64_and_data_url_decode_to_the_same_pixels():
    plain = decode_image(_png_base64())
    url = decode_image("data:image/png;base64," + _png_base64())
    assert plain.size == url.size == (5, 3) and plain.getpixel((0, 0)) == url.getpixel((0, 0)) == (10, 200, 30)


def test_empty_values_mean_no_image_and_pil_passes_through():
    assert decode_image(None) is None and decode_image("  ") is None
    image = Image.new("RGB", (2, 2))
    assert decode_image(image) is image


def test_garbage_names_the_field():
    with pytest.raises(AnimateDiffError, match="'last_frame' is not a base64-encoded image"):
        decode_image("not an image!", field="last_frame")
    with pytest.raises(AnimateDiffError, match="'last_frame' must be an image"):
        decode_image(42, field="last_frame")
