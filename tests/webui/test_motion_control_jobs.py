"""Control over motion and long videos in a real WebUI (issue 13): motion scale per frame and
per step, context schedules, positional-encoding stretch, FreeNoise and the prompt-travel
conveniences; each changes the animation (or what the sampler sees), the infotext records it
and pastes back, the X/Y/Z plot offers it, bad values are a 422 naming the field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from webui_api import (
    HOTSHOT_MOTION_MODULE,
    SDXL_CHECKPOINT,
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    img2img_payload,
    last_denoised,
    mean_abs_diff,
    run_job,
    run_recorded,
    txt2img_payload,
)

from lib_animatediff.sampling.context import ContextSchedule
from lib_animatediff.sampling.freenoise import freenoise_order
from lib_animatediff.webui.infotext import pasted_values

ON_SDXL = {"override_settings": {"sd_model_checkpoint": SDXL_CHECKPOINT}}


def _frames(server: WebUIServer, **settings) -> list[np.ndarray]:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**settings)))
    assert_animation(job, server, frames=settings.get("video_length", 8))
    return job.frames


def _entry(job) -> dict:
    """The AnimateDiff infotext entry of a job's first image, read back as pasting does."""
    infotext = job.response.info()["infotexts"][0]
    return pasted_values({"AnimateDiff": infotext.split('AnimateDiff: "', 1)[1].split('"', 1)[0]})


def _unet_rows_per_step(events: list[dict]) -> list[list[int]]:
    """Rows of each UNet call, per sampling step (a denoiser event opens a step)."""
    steps: list[list[int]] = []
    for event in events:
        if event["kind"] == "denoiser":
            steps.append([])
        elif event["kind"] == "unet" and steps:
            steps[-1].append(event["rows"])
    return steps


def _start_noise(events: list[dict], frames: int):
    first = next(event for event in events if event["kind"] == "denoiser")
    return first["x"][-frames:] / float(first["sigma"][0])


def test_motion_scale_zero_is_the_checkpoint_alone_frame_by_frame(server: WebUIServer) -> None:
    """HotShot-XL samples with SDXL's own noise schedule, so with its modules at scale 0 every
    frame is what the SDXL checkpoint makes alone from that frame's seed (a batch of 8)."""
    plain = run_job(server, "txt2img", txt2img_payload(batch_size=8, **ON_SDXL))
    assert plain.response.ok and len(plain.frames) == 8, describe(plain, server)
    settings = dict(model=HOTSHOT_MOTION_MODULE, batch_size=8, motion_scale="0")
    for _ in range(2):  # the first job of a new batch shape on this CPU host can differ: compare the second
        off = run_job(server, "txt2img", txt2img_payload(**ON_SDXL, alwayson_scripts=animatediff(**settings)))
    assert_animation(off, server, frames=8)
    worst = max(float(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(off.frames, plain.frames))
    assert worst <= 2, f"motion scale 0 differs from the checkpoint alone by up to {worst} grey levels"
    on = run_job(server, "txt2img", txt2img_payload(**ON_SDXL, alwayson_scripts=animatediff(**{**settings, "motion_scale": "1"})))
    assert min(mean_abs_diff(a, b) for a, b in zip(on.frames, plain.frames)) > 0.5, "the module had no effect at scale 1"


def test_motion_scale_per_frame_and_per_step_change_the_animation_and_paste_back(server: WebUIServer) -> None:
    full = _frames(server)
    half = _frames(server, motion_scale=0.5)
    keyed = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(motion_scale="0-3: 0, 4-7: 1")))
    late = _frames(server, motion_start=0.5)
    assert_animation(keyed, server, frames=8)
    for name, frames in (("0.5", half), ("keys", keyed.frames), ("from half-way", late)):
        assert min(mean_abs_diff(a, b) for a, b in zip(frames, full)) > 0.2, f"motion scale {name} did not change the animation"
    infotext = keyed.response.info()["infotexts"][0]
    assert "motion scale: 0-3: 0, 4-7: 1" in infotext, infotext
    entry = infotext.split('AnimateDiff: "', 1)[1].split('"', 1)[0]
    assert pasted_values({"AnimateDiff": entry})["motion_scale"] == "0-3: 0, 4-7: 1"


def test_the_motion_attention_scale_changes_what_the_sampler_ends_on_and_pastes_back(server: WebUIServer) -> None:
    _, trained = run_recorded(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff()))
    job, sharper = run_recorded(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(motion_attention_scale=4.0)))
    assert_animation(job, server, frames=8)
    change = (last_denoised(sharper) - last_denoised(trained)).abs().mean().item()
    assert change > 0.01, f"motion attention scale 4 changed the latents by only {change}"
    assert _entry(job)["motion_attention_scale"] == 4.0
    refused = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(motion_attention_scale=-1)))
    assert refused.response.status == 422 and "'motion_attention_scale'" in refused.response.text, describe(refused, server)


def test_a_motion_scale_that_does_not_parse_is_422(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(motion_scale="lots")))
    assert job.response.status == 422 and "'motion_scale'" in job.response.text, describe(job, server)


def test_the_new_controls_are_x_y_z_axes(server: WebUIServer) -> None:
    plot = next(s for s in server.get("/sdapi/v1/script-info").body if s["name"] == "x/y/z plot" and not s["is_img2img"])
    choices = plot["args"][0]["choices"]
    for label in ("Motion scale", "Motion from", "Motion until", "Motion attention scale", "Context schedule", "PE stretch", "FreeNoise"):
        assert f"[AnimateDiff] {label}" in choices, choices


# --------------------------------------------------------------------------- context schedules

LONG = dict(video_length=16, batch_size=8)


@pytest.mark.parametrize("kind", ["static", "batched", "views"])
def test_each_context_schedule_runs_its_windows_and_changes_the_animation(server: WebUIServer, kind: str) -> None:
    """What the UNet is called with per step: static and batched run their windows (cond and
    uncond of one window per call), views runs every frame in one call; the frames differ from
    the default uniform schedule's, and the infotext records the schedule."""
    payload = dict(steps=3)
    _, plain_events = run_recorded(server, "txt2img", txt2img_payload(**payload, alwayson_scripts=animatediff(**LONG)))
    uniform = ContextSchedule(context=8, kind="uniform")
    assert _unet_rows_per_step(plain_events) == [[2 * len(window) for window in uniform.windows(16, step)] for step in range(3)]
    assert [event["step"] for event in plain_events if event["kind"] == "denoiser"] == [0, 1, 2], "the steps the windows shift by"
    job, events = run_recorded(server, "txt2img", txt2img_payload(**payload, alwayson_scripts=animatediff(**LONG, context_schedule=kind)))
    assert_animation(job, server, frames=16)
    rows = _unet_rows_per_step(events)
    assert len(rows) == 3, rows
    if kind == "views":
        assert rows == [[2 * 16]] * 3, rows
    else:
        schedule = ContextSchedule(context=8, kind=kind)
        expected = [[2 * len(window) for window in schedule.windows(16, step)] for step in range(3)]
        assert rows == expected, (rows, expected)
    # static differs from uniform only where uniform's windows have shifted (from step 1 on), and
    # the random VAE shows latents faintly: compare what the sampler ends on
    change = (last_denoised(events) - last_denoised(plain_events)).abs().mean().item()
    assert change > 0.01, f"{kind} changed the video's latents by only {change}"
    assert _entry(job)["context_schedule"] == kind


def test_a_batched_schedule_that_cannot_apply_is_422(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**LONG, context_schedule="batched", closed_loop="R-P")))
    assert job.response.status == 422 and "'context_schedule'" in job.response.text and not job.gifs, describe(job, server)


# --------------------------------------------------------------------------- positional-encoding stretch


def test_pe_stretch_lets_windows_grow_past_the_module_and_changes_positions(server: WebUIServer) -> None:
    """The random v2 module holds 32 positions: a window of 36 is refused, naming pe_stretch as the
    way out, and runs with pe_stretch 36; a stretch changes a 16-frame window's animation; a
    stretch below the 16 trained frames is refused naming the field."""
    too_long = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(video_length=36, batch_size=36)))
    assert too_long.response.status == 422 and "pe_stretch" in too_long.response.text, describe(too_long, server)
    stretched = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(video_length=36, batch_size=36, pe_stretch=36)))
    assert_animation(stretched, server, frames=36)
    assert _entry(stretched)["pe_stretch"] == 36

    window = dict(video_length=16, batch_size=16)
    as_trained = _frames(server, **window)
    spread = _frames(server, **window, pe_stretch=32)
    assert min(mean_abs_diff(a, b) for a, b in zip(spread[1:], as_trained[1:])) > 0.2, "pe_stretch did not change the animation"

    squeezed = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**window, pe_stretch=10)))
    assert squeezed.response.status == 422 and "'pe_stretch'" in squeezed.response.text, describe(squeezed, server)


# --------------------------------------------------------------------------- FreeNoise


def test_freenoise_starts_later_windows_from_the_first_windows_noise(server: WebUIServer) -> None:
    """With FreeNoise the sampler's start noise of frames 8..15 is the first window's (frames
    0..7), in exactly the order freenoise_order draws from the job's seed; frames 0..7 start as
    without it. Without FreeNoise no later frame repeats a first-window frame."""
    settings = dict(**LONG, overlap=4)
    plain, plain_events = run_recorded(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**settings)))
    job, events = run_recorded(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**settings, freenoise=True)))
    assert_animation(job, server, frames=16)
    before, after = _start_noise(plain_events, 16), _start_noise(events, 16)
    assert (after[:8] - before[:8]).abs().max() < 1e-4, "the first window's noise changed"
    found = [int((after[frame] - before[:8]).flatten(1).abs().max(dim=1).values.argmin()) for frame in range(16)]
    for frame in range(16):
        assert (after[frame] - before[found[frame]]).abs().max() < 1e-4, f"frame {frame} does not start from a first-window frame"
    assert found == freenoise_order(16, 8, 4, torch.Generator().manual_seed(1234)), found
    assert min((before[frame] - before[:8]).flatten(1).abs().max(dim=1).values.min() for frame in range(8, 16)) > 0.5
    assert min(mean_abs_diff(a, b) for a, b in zip(job.frames[8:], plain.frames[8:])) > 0.2
    assert _entry(job)["freenoise"] is True


def test_freenoise_with_img2img_freeinit_closed_loop_and_prompt_travel(server: WebUIServer) -> None:
    settings = dict(**LONG, closed_loop="R+P", freenoise=True, freeinit_enable=True, freeinit_iters=2)
    payload = img2img_payload(prompt="0: a cat\n-1: a fox", denoising_strength=0.8)
    job = run_job(server, "img2img", {**payload, "alwayson_scripts": animatediff(**settings)})
    assert_animation(job, server, frames=16)
    assert all(np.isfinite(frame).all() for frame in job.frames)
    plain = run_job(server, "img2img", {**payload, "alwayson_scripts": animatediff(**{**settings, "freenoise": False})})
    assert min(mean_abs_diff(a, b) for a, b in zip(job.frames[8:], plain.frames[8:])) > 0.2, "FreeNoise had no effect"


# --------------------------------------------------------------------------- prompt travel conveniences


def test_prompt_travel_counts_from_the_end_and_holds_ranges(server: WebUIServer) -> None:
    """'-1:' is the last frame and '0-3:' holds a prompt over frames 0..3: the same video as the
    keyframes written out; a broken range names its line."""
    written_out = run_job(server, "txt2img", txt2img_payload(prompt="0: a cat\n3: a cat\n7: a fox", alwayson_scripts=animatediff()))
    convenient = run_job(server, "txt2img", txt2img_payload(prompt="0-3: a cat\n-1: a fox", alwayson_scripts=animatediff()))
    assert_animation(convenient, server, frames=8)
    assert max(mean_abs_diff(a, b) for a, b in zip(convenient.frames, written_out.frames)) < 0.5
    broken = run_job(server, "txt2img", txt2img_payload(prompt="0: a cat\n5-2: a fox", alwayson_scripts=animatediff()))
    assert broken.response.status == 422 and "line 2" in broken.response.text, describe(broken, server)
