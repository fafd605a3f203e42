"""SDXL families on an SDXL checkpoint, and the A1111 batching modes an AnimateDiff job
must work with (see conftest.py for the set-up)."""

from __future__ import annotations

import base64
import io
import threading
import time

import numpy as np
from PIL import Image
from webui_api import (
    EXTRA_PASS_MARKER,
    HOTSHOT_MOTION_MODULE,
    MOTION_MODULE,
    SDXL_CHECKPOINT,
    SDXL_MOTION_MODULE,
    PlainImages,
    WebUIServer,
    animatediff,
    assert_animation,
    assert_plain_unchanged,
    describe,
    mean_abs_diff,
    read_gif,
    request,
    run_job,
    settings_restored,
    txt2img_payload,
)

ON_SDXL = {"override_settings": {"sd_model_checkpoint": SDXL_CHECKPOINT}}


def test_animatediff_sdxl_animates_an_sdxl_checkpoint(server: WebUIServer) -> None:
    plain = run_job(server, "txt2img", txt2img_payload(batch_size=8, **ON_SDXL))
    assert plain.response.ok and len(plain.frames) == 8, describe(plain, server)
    # context 0: the module's default (16 frames, so one window of the 8)
    job = run_job(server, "txt2img", txt2img_payload(**ON_SDXL, alwayson_scripts=animatediff(SDXL_MOTION_MODULE, batch_size=0)))
    assert_animation(job, server, frames=8)
    assert min(mean_abs_diff(a, b) for a, b in zip(job.frames, plain.frames)) > 0.5, "the SDXL motion module had no effect"
    assert "AnimateDiff-SDXL" in server.log_tail(200)


def test_hotshot_xl_in_its_native_naming_animates_in_windows(server: WebUIServer) -> None:
    job = run_job(
        server, "txt2img", txt2img_payload(**ON_SDXL, alwayson_scripts=animatediff(HOTSHOT_MOTION_MODULE, video_length=12, batch_size=8))
    )
    assert_animation(job, server, frames=12)
    assert "HotShot-XL" in server.log_tail(200)


def test_sd15_module_is_refused_on_an_sdxl_checkpoint_with_a_clear_message(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(**ON_SDXL, alwayson_scripts=animatediff(MOTION_MODULE)))
    assert job.response.status >= 400 and not job.gifs, describe(job, server)
    assert "SD 1.5" in job.response.text and "SDXL" in job.response.text, job.response.text[:1000]


def test_sdxl_module_is_refused_on_an_sd15_checkpoint(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(SDXL_MOTION_MODULE)))
    assert job.response.status >= 400 and not job.gifs, describe(job, server)
    assert "for SDXL checkpoints" in job.response.text and "SD 1.5" in job.response.text, job.response.text[:1000]


def test_plain_jobs_unchanged_after_sdxl_jobs_and_checkpoint_switches(
    server: WebUIServer, baseline: tuple[PlainImages, PlainImages]
) -> None:
    assert_plain_unchanged(server, baseline, after="SDXL AnimateDiff jobs on a switched checkpoint")


# --------------------------------------------------------------------------- batching modes


def _frames(server: WebUIServer, **payload) -> list[np.ndarray]:
    job = run_job(server, "txt2img", txt2img_payload(**payload))
    assert_animation(job, server, frames=8)
    return job.frames


def test_cond_and_uncond_in_one_batch_or_two_give_the_same_video(server: WebUIServer) -> None:
    with settings_restored(server, {"batch_cond_uncond": True}):
        together = _frames(server, alwayson_scripts=animatediff(), override_settings={"batch_cond_uncond": True})
        apart = _frames(server, alwayson_scripts=animatediff(), override_settings={"batch_cond_uncond": False})
    worst = max(float(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(together, apart))
    assert worst <= 2, f"batched and unbatched cond/uncond differ by up to {worst} grey levels"


def test_composable_and_prompts_and_skipped_uncond_steps(server: WebUIServer) -> None:
    single = _frames(server, alwayson_scripts=animatediff())
    composed = _frames(server, prompt="a cat AND a dog :0.7", alwayson_scripts=animatediff())
    assert min(mean_abs_diff(a, b) for a, b in zip(single, composed)) > 0.5
    # NGMS: skip the uncond pass on odd steps once sigma is below s_min_uncond
    _frames(server, steps=4, s_min_uncond=100.0, alwayson_scripts=animatediff())


def test_prompts_of_different_lengths_with_padding_on_and_off(server: WebUIServer) -> None:
    # over 75 tokens: two chunks ("cat" here drives the random SD 1.5 fixture to NaN, in plain A1111 too)
    long_prompt = ", ".join(["a very detailed painting of a fox"] * 12)
    with settings_restored(server, {"pad_cond_uncond": False}):
        for pad in (True, False):
            _frames(
                server, prompt=long_prompt, negative_prompt="blurry", alwayson_scripts=animatediff(), override_settings={"pad_cond_uncond": pad}
            )


def test_three_and_sub_prompts_unpadded_keep_each_video_whole(server: WebUIServer) -> None:
    """With A1111's default (prompts not padded) and a negative prompt of another length, A1111
    splits the conditional rows of three AND sub-prompts between model calls; every sub-prompt's
    video must still be denoised whole, in order. Three equal sub-prompts at CFG 2 are then
    the single prompt at CFG 6."""
    negative = ", ".join(["a fox in the snow"] * 16)  # over 75 tokens: two chunks, the prompt has one
    unpadded = {"pad_cond_uncond": False, "pad_cond_uncond_v0": False}
    common = dict(negative_prompt=negative, alwayson_scripts=animatediff(), override_settings=unpadded)
    with settings_restored(server, {"pad_cond_uncond": False, "pad_cond_uncond_v0": False}):
        single = _frames(server, prompt="a fox", cfg_scale=6, **common)
        three = _frames(server, prompt="a fox AND a fox AND a fox", cfg_scale=2, **common)
        mixed = _frames(server, prompt="a fox AND a dog :0.5 AND a bird :0.3", cfg_scale=2, **common)
    worst = max(float(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(single, three))
    assert worst <= 2, f"three equal AND sub-prompts differ from the single prompt by up to {worst} grey levels"
    assert min(mean_abs_diff(a, b) for a, b in zip(mixed, three)) > 0.5


def test_hires_fix_second_pass_runs_over_all_frames(server: WebUIServer) -> None:
    hires = {"enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 1, "denoising_strength": 0.6}
    job = run_job(server, "txt2img", txt2img_payload(**hires, alwayson_scripts=animatediff(video_length=12, batch_size=8)))
    assert job.response.ok and len(job.frames) == 12, describe(job, server)
    assert all(frame.shape == (128, 128, 3) for frame in job.frames)
    assert len(job.gifs) == 1 and len(read_gif(job.gifs[0])) == 12


def test_extension_passes_after_the_job_run_without_the_motion_module(server: WebUIServer) -> None:
    """An ADetailer-style extension runs its own one-image job on a decoded frame."""
    log_start = server.log_path.stat().st_size
    job = run_job(server, "txt2img", txt2img_payload(prompt=f"a cat {EXTRA_PASS_MARKER}", alwayson_scripts=animatediff()))
    assert_animation(job, server, frames=8)
    with open(server.log_path, "rb") as log_file:
        log = log_file.read()[log_start:].decode(errors="replace")
    assert "extra pass done: 1 image(s) of (64, 64)" in log, log
    assert "Traceback" not in log and "Error" not in log, log
    # the motion modules were out of the UNet before the extra pass began
    assert log.index("removed motion module") < log.index("extra pass done"), log


def test_progress_counts_steps_times_windows(server: WebUIServer) -> None:
    """While a windowed job runs, A1111's progress reports steps × windows."""
    payload = txt2img_payload(steps=3, alwayson_scripts=animatediff(video_length=24, batch_size=8))
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("job", run_job(server, "txt2img", payload)), daemon=True)
    worker.start()
    seen = []
    while worker.is_alive():
        state = request(server.url + "/sdapi/v1/progress?skip_current_image=true", timeout=30).body.get("state", {})
        seen.append(
            (
                state.get("sampling_steps"),
                state.get("sampling_step"),
                request(server.url + "/sdapi/v1/progress", timeout=30).body.get("textinfo"),
            )
        )
        time.sleep(0.3)
    worker.join()
    assert_animation(result["job"], server, frames=24)
    # 24 frames in windows of 8 (overlap 2): at least 4 windows a step, 3 steps
    assert any(total and total >= 3 * 4 for total, _, _ in seen), seen
    assert any(info and "context window" in info for _, _, info in seen), seen


def test_the_live_preview_shows_the_frames_of_the_window_being_denoised(server: WebUIServer) -> None:
    """With live previews on, while a windowed job runs the preview is a grid of one window's
    frames (4 of the 12 here: 2 × 2 cells), not of the whole video (4 × 3 cells)."""
    previews = {
        "live_previews_enable": True, "show_progress_every_n_steps": 1, "show_progress_type": "Approx cheap",
        "show_progress_grid": True, "n_rows": -1,
    }  # fmt: skip
    payload = txt2img_payload(steps=4, override_settings=previews, alwayson_scripts=animatediff(video_length=12, batch_size=4, overlap=0))
    result: dict = {}
    a1111_defaults = {
        "live_previews_enable": True, "show_progress_every_n_steps": 10, "show_progress_type": "Approx NN",
        "show_progress_grid": True, "n_rows": -1,
    }  # fmt: skip
    with settings_restored(server, a1111_defaults):
        worker = threading.Thread(target=lambda: result.setdefault("job", run_job(server, "txt2img", payload)), daemon=True)
        worker.start()
        sizes = set()
        while worker.is_alive():
            encoded = request(server.url + "/sdapi/v1/progress?skip_current_image=false", timeout=30).body.get("current_image")
            if encoded:
                with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
                    sizes.add(image.size)
            time.sleep(0.1)
        worker.join()
    assert_animation(result["job"], server, frames=12)
    squares = {size for size in sizes if size[0] == size[1]}
    assert squares, f"no preview of one window's 4 frames (2 × 2 cells) among {sizes}"
    cell = min(squares)[0] // 2
    assert sizes <= {(2 * cell, 2 * cell), (4 * cell, 3 * cell)}, f"previews {sizes} are neither a window's grid nor the video's"
