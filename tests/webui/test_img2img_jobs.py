"""img2img: the main image is the first frame, the optional last frame the last.

The checkpoint has random weights (its VAE does not reconstruct images) and its random motion
module mixes frames strongly, so pixels are not compared with the input images: the test
checks that adding a last frame changes the end of the animation more than its start (the
weights themselves are unit-tested in tests/test_latent_mix.py).
"""

from __future__ import annotations

import numpy as np
from webui_api import WebUIServer, animatediff, assert_animation, encode_png, img2img_payload, mean_abs_diff, run_job

DENOISE = 0.3


def _pattern(value: int) -> np.ndarray:
    pixels = np.full((64, 64, 3), value, dtype=np.uint8)
    pixels[16:48, 16:48] = 255 - value
    return pixels


FIRST, LAST = encode_png(_pattern(20)), encode_png(_pattern(235))


def test_the_last_frame_pulls_the_end_of_the_animation(server: WebUIServer) -> None:
    with_last = run_job(server, "img2img", img2img_payload(
        init_images=[FIRST], denoising_strength=DENOISE, alwayson_scripts=animatediff(last_frame=LAST, latent_scale=4.0, latent_scale_last=4.0),
    ))  # fmt: skip
    without_last = run_job(server, "img2img", img2img_payload(
        init_images=[FIRST], denoising_strength=DENOISE, alwayson_scripts=animatediff(latent_scale=4.0),
    ))  # fmt: skip
    assert_animation(with_last, server, frames=8)
    assert_animation(without_last, server, frames=8)
    # the last frame changes the end of the animation more than its start
    change = [mean_abs_diff(a, b) for a, b in zip(with_last.frames, without_last.frames)]
    assert change[-1] > max(1.0, 2 * change[0]), change  # the last frame is the last image (pinned), the first is not touched


def test_a_broken_last_frame_is_a_clear_error(server: WebUIServer) -> None:
    job = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(last_frame="not base64!")))
    assert job.response.status >= 400 and not job.gifs
    assert "last_frame" in job.response.text
