"""img2img: the main image is the first frame, the optional last frame the last.

The checkpoint has random weights (its VAE does not reconstruct images) and its random motion
module mixes frames strongly, so pixels are not compared with the input images: the test
checks that adding a last frame changes the end of the animation more than its start (the
weights themselves are unit-tested in tests/test_latent_mix.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from webui_api import (
    IMG2IMG_BATCH_ROUTE,
    INIT_IMAGE,
    WebUIServer,
    animatediff,
    assert_animation,
    batch_tab_animation,
    describe,
    difference,
    encode_png,
    flat_frames,
    img2img_payload,
    init_image_pattern,
    last_denoised,
    mean_abs_diff,
    on_forge,
    run_job,
    run_recorded,
    sampling_records,
)

from lib_animatediff.sampling.latent_mix import frame_mix_weights

DENOISE = 0.3


def _pattern(value: int) -> np.ndarray:
    pixels = np.full((64, 64, 3), value, dtype=np.uint8)
    pixels[16:48, 16:48] = 255 - value
    return pixels


FIRST, LAST = encode_png(_pattern(20)), encode_png(_pattern(235))


def test_the_last_frame_pulls_the_end_of_the_animation(server: WebUIServer) -> None:
    # the first img2img job of this batch shape in a WebUI may come out differently on this host
    run_job(server, "img2img", img2img_payload(init_images=[FIRST], denoising_strength=DENOISE, alwayson_scripts=animatediff()))
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


def _solid(rgb: tuple[int, int, int]) -> str:
    return encode_png(np.full((64, 64, 3), rgb, dtype=np.uint8))


# sd-webui-animatediff (a88e889) on this host, same module, checkpoint and jobs: 3.95
AS_LOCAL_AS_SD_WEBUI_ANIMATEDIFF = 3.9


def test_changing_the_last_image_moves_the_last_frame_most(server: WebUIServer) -> None:
    """Main image grey, last image red, then blue (denoising 0.5, default latent power/scale, the
    second runs compared): what the sampler starts from changes by exactly the last image's
    weight in each frame (nothing in frame 0), and the result's last frame moves at least as
    much more than its first as in sd-webui-animatediff, where the same jobs give 3.95 times."""
    def final_and_start(last: str):
        payload = img2img_payload(init_images=[_solid((128, 128, 128))], denoising_strength=0.5,
                                  alwayson_scripts=animatediff(last_frame=last))  # fmt: skip
        run_recorded(server, "img2img", payload)  # the first run of a batch shape may differ on this host
        job, events = run_recorded(server, "img2img", payload)
        assert_animation(job, server, frames=8)
        start = next(event for event in events if event["kind"] == "denoiser")
        return last_denoised(events), start["x"].double()[:8]

    red, red_start = final_and_start(_solid((220, 30, 30)))
    blue, blue_start = final_and_start(_solid((30, 30, 220)))
    start_change = (red_start - blue_start).abs().flatten(1).mean(1)
    _, w_last = frame_mix_weights(8, has_last=True)
    assert start_change[0] == 0 and torch.allclose(start_change / start_change[-1], w_last.double(), atol=1e-4), start_change
    change = (red - blue).abs().flatten(1).mean(1)
    assert change[-1] >= AS_LOCAL_AS_SD_WEBUI_ANIMATEDIFF * change[0], change.tolist()


INPAINT_MASK = np.zeros((64, 64, 3), dtype=np.uint8)
INPAINT_MASK[:, :32] = 255  # the left half is inpainted
KEPT = np.s_[:, 44:]  # right of the mask's blur (4 px) and of the latent cell the mask's edge lies in
SOFT_INPAINTING = {"soft inpainting": {"args": [True, 1.0, 0.5, 4.0, 0.0, 0.5, 2.0]}}


def _inpainting(soft: bool, animated: bool = True) -> dict:
    scripts = {**(animatediff() if animated else {}), **(SOFT_INPAINTING if soft else {})}
    return img2img_payload(
        init_images=[INIT_IMAGE], mask=encode_png(INPAINT_MASK), mask_blur=4, inpainting_fill=1, inpaint_full_res=False,
        denoising_strength=0.75, alwayson_scripts=scripts,
    )  # fmt: skip


def test_an_inpainting_mask_inpaints_every_frame_inside_it_and_keeps_the_image_outside(server: WebUIServer) -> None:
    """The img2img inpaint tab with AnimateDiff: the one mask applies to every frame; outside it
    every frame is the main image (A1111 pastes it back over the decoded frame), inside it the
    frames are new. With soft inpainting on (A1111's built-in), each frame is blended by its own
    softened mask, and keeps the image outside the mask as closely as one soft-inpainted image
    does."""
    image = init_image_pattern(64)
    run_job(server, "img2img", _inpainting(soft=False))  # the first run of a batch shape may differ on this host
    hard = run_job(server, "img2img", _inpainting(soft=False))
    assert_animation(hard, server, frames=8)
    for number, frame in enumerate(hard.frames):
        assert np.array_equal(frame[KEPT], image[KEPT]), f"frame {number} outside the mask: {difference(frame[KEPT], image[KEPT])}"
        assert mean_abs_diff(frame[:, :24], image[:, :24]) > 5, f"frame {number} was not inpainted inside the mask"

    soft = run_job(server, "img2img", _inpainting(soft=True))
    # not assert_animation: on Forge soft inpainting gives back the image itself (as it does
    # there without AnimateDiff), so its frames are all alike and the GIF's order is moot
    assert soft.response.ok and len(soft.frames) == 8 and len(soft.gifs) == 1, describe(soft, server)
    assert max(mean_abs_diff(a, b) for a, b in zip(soft.frames, hard.frames)) > 0.5, "soft inpainting changed no frame"
    one_image = run_job(server, "img2img", _inpainting(soft=True, animated=False)).frames[0]
    alone = mean_abs_diff(one_image[KEPT], image[KEPT])
    kept = [mean_abs_diff(frame[KEPT], image[KEPT]) for frame in soft.frames]
    assert max(kept) <= 1.25 * alone + 1, f"outside the mask, mean |diff| from the image per frame {kept}; one soft-inpainted image: {alone:.2f}"


def test_the_batch_tab_folder_is_one_animation_without_controlnet(server: WebUIServer, tmp_path: Path) -> None:
    """No sd-webui-controlnet here to hand the Batch tab's run over: AnimateDiff takes it itself.
    The folder's 4 images are one job's 4 frames, each its frame's init image: changing only the
    third image changes only the third row of what the sampler starts from (the same seed's
    noise). With AnimateDiff off the tab's own loop runs, a job per image."""
    grey, red = (128, 128, 128), (220, 30, 30)
    animation = animatediff(video_length=0)["AnimateDiff"]["args"][0]

    def first_latents(colours: list[tuple[int, int, int]], name: str) -> torch.Tensor:
        request = {"input_dir": str(flat_frames(tmp_path / name, colours)), "steps": 2, "animatediff": animation}
        before = len(sampling_records(server))
        batch_tab_animation(server, request, len(colours))
        records = sampling_records(server)[before:]
        assert len(records) == 1, f"{len(records)} jobs for one Batch-tab run\n{server.log_tail(40)}"
        events = torch.load(records[0], weights_only=True)
        return next(event for event in events if event["kind"] == "denoiser")["x"].double()

    # the VAE's encoding draws from torch's global generator, which the previous job left: the
    # same job before each compared one (a random VAE's spread is wide, a trained one's tiny)
    first_latents([grey] * 4, "warm-up")
    plain = first_latents([grey] * 4, "grey")
    one_red = first_latents([grey, grey, red, grey], "one-red")
    rows = 4 if on_forge() else 2 * 4  # A1111's denoiser gets cond and uncond rows together, Forge's the batch
    assert plain.shape[0] == rows, f"the sampler started from {plain.shape[0]} rows, not the 4 frames'"
    change = (one_red - plain)[:4].abs().flatten(1).mean(1)
    assert change[2] > 0.01 and change[[0, 1, 3]].max() == 0, change.tolist()

    before = len(sampling_records(server))
    looped = server.post(IMG2IMG_BATCH_ROUTE, {"input_dir": str(tmp_path / "grey"), "steps": 2, "animatediff": {"enable": False}})
    assert looped.ok and looped.body["images"] == 4, f"HTTP {looped.status}: {looped.text[:1000]}"
    assert len(sampling_records(server)) - before == 4, "AnimateDiff off: not a job per image"
