"""AnimateDiff in a float16 WebUI, as users run A1111 on a GPU: started without --no-half
(the UNet and VAE in float16), plain and with --upcast-sampling (see conftest.py's
half_server; a test-only extension lets group_norm take float16 on this CPU host).

Every kind of job gives finite frames close to the same job in the float32 WebUI (the session
server), the motion modules run in the UNet's dtype, and a plain job after the AnimateDiff jobs
is bit-identical to one before them. float16 on a CPU is slow, so the jobs are small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import save_file
from webui_api import (
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    encode_png,
    guoyww_motion_lora,
    img2img_payload,
    init_image_pattern,
    last_denoised,
    mean_abs_diff,
    run_job,
    run_recorded,
    txt2img_payload,
)

pytestmark = pytest.mark.a1111_only("A1111's --no-half / --upcast-sampling flags")

# The random VAE shows latents faintly, so the sampler's result is compared too: the mean
# |difference| of the last denoised latents relative to their mean magnitude. Measured on this
# host, float16 and --upcast-sampling alike: pixels up to 2.9 grey levels; latents 0.007 (prompt
# travel) to 0.085 (FreeInit, whose passes carry the difference on). What float16 costs A1111
# alone on a plain batch of 8 (printed as the drift) is no yardstick: it came out 0.019 to 0.097
# on the same host, depending on which jobs of that shape each WebUI ran before (see the
# developers' guide on first runs of a batch shape). A float16 fault (overflow, a module left in
# float32 on float16 activations, a dtype mix-up in attention) moves latents by their whole size.
PIXEL_TOLERANCE = 6.0
LATENT_TOLERANCE = 0.15
LAST = encode_png(init_image_pattern(64, seed=11))
JOBS = {
    "txt2img": ("txt2img", {}, {}),
    "img2img, first and last frame": ("img2img", {"denoising_strength": 0.6}, {"last_frame": LAST, "latent_scale": 4.0}),
    "prompt travel": ("txt2img", {"prompt": "0: a cat\n-1: a fox"}, {}),
    "windows": ("txt2img", {}, {"video_length": 12, "batch_size": 8}),
    "FreeInit": ("txt2img", {}, {"freeinit_enable": True, "freeinit_iters": 2}),
    "motion LoRA": ("txt2img", {"prompt": "a red ball bouncing <lora:mlora_half:1>"}, {}),
}


def _relative(half, full) -> float:
    return float((half - full).abs().mean() / full.abs().mean())


def _payload(mode: str, overrides: dict, settings: dict) -> dict:
    build = img2img_payload if mode == "img2img" else txt2img_payload
    return build(**overrides, alwayson_scripts=animatediff(**settings))


PLAIN_BEFORE: dict[str, np.ndarray] = {}  # the float16 WebUI's plain image before any AnimateDiff job, by its URL
PLAIN_DRIFT: dict[str, float] = {}  # float16 against float32 on a plain batch of 8, by the float16 WebUI's URL


@pytest.fixture(scope="module")
def half(half_server: WebUIServer, server: WebUIServer) -> WebUIServer:
    """The float16 WebUI, with the motion LoRA in both WebUIs' Lora folders and a plain image
    taken before any AnimateDiff job."""
    for webui in (half_server, server):
        folder = Path(webui.data_dir) / "models" / "Lora"
        folder.mkdir(parents=True, exist_ok=True)
        save_file(guoyww_motion_lora(seed=7), str(folder / "mlora_half.safetensors"))
    plain = run_job(half_server, "txt2img", txt2img_payload())
    assert plain.response.ok and len(plain.frames) == 1, describe(plain, half_server)
    PLAIN_BEFORE[half_server.url] = plain.frames[0]
    _, plain_half = run_recorded(half_server, "txt2img", txt2img_payload(batch_size=8))
    _, plain_full = run_recorded(server, "txt2img", txt2img_payload(batch_size=8))
    PLAIN_DRIFT[half_server.url] = _relative(last_denoised(plain_half), last_denoised(plain_full))
    print(f"\nplain batch of 8: latents {PLAIN_DRIFT[half_server.url]:.4f} relative")
    return half_server


@pytest.mark.parametrize("job", list(JOBS))
def test_jobs_give_finite_frames_close_to_the_float32_webui(half: WebUIServer, server: WebUIServer, job: str) -> None:
    mode, overrides, settings = JOBS[job]
    frames = settings.get("video_length", 8)
    in_half, half_events = run_recorded(half, mode, _payload(mode, overrides, settings))
    assert_animation(in_half, half, frames=frames)
    in_full, full_events = run_recorded(server, mode, _payload(mode, overrides, settings))
    assert_animation(in_full, server, frames=frames)
    assert all(np.isfinite(frame).all() and frame.std() > 1 for frame in in_half.frames), "flat or broken frames in float16"
    differences = [mean_abs_diff(a, b) for a, b in zip(in_half.frames, in_full.frames)]
    latent_half, latent_full = last_denoised(half_events), last_denoised(full_events)
    assert bool(latent_half.isfinite().all()), f"{job}: non-finite latents in float16"
    relative = _relative(latent_half, latent_full)
    print(f"\n{job}: per-frame mean |float16 - float32| {max(differences):.2f} at most; latents {relative:.4f} relative")
    assert max(differences) <= PIXEL_TOLERANCE, f"{job}: float16 frames differ from float32 by up to {max(differences):.2f}\n{describe(in_half, half)}"
    assert relative <= LATENT_TOLERANCE, (
        f"{job}: float16 latents differ from float32 by {relative:.4f} of their magnitude "
        f"(allowed {LATENT_TOLERANCE}; a plain batch drifted {PLAIN_DRIFT[half.url]:.4f} here)"
    )


def test_the_motion_modules_ran_in_the_unets_dtype_and_the_webui_is_unchanged(half: WebUIServer) -> None:
    run_job(half, "txt2img", txt2img_payload(alwayson_scripts=animatediff()))
    injected = [line for line in half.log_text().splitlines() if "[AnimateDiff]" in line and "injected" in line]
    assert injected and all("torch.float16" in line for line in injected), injected[-3:]
    after = run_job(half, "txt2img", txt2img_payload()).frames
    assert len(after) == 1 and np.array_equal(after[0], PLAIN_BEFORE[half.url]), "a plain float16 job changed after AnimateDiff jobs"
