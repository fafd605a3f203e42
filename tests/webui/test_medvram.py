"""AnimateDiff and the WebUI's memory management: A1111 under --medvram, where A1111 moves UNet
blocks between devices with hooks and the motion modules must travel inside the blocks they sit
in (see conftest.py); Forge's memory manager, which loads a sampling's models together and frees
the least recently used, and is told of the motion modules for each job."""

from __future__ import annotations

import pytest
from webui_api import WebUIServer, animatediff, assert_animation, describe, run_job, run_recorded, txt2img_payload


@pytest.mark.a1111_only("A1111's --medvram block moves; Forge manages memory itself")
def test_windowed_job_under_medvram(medvram_server: WebUIServer) -> None:
    plain_before = run_job(medvram_server, "txt2img", txt2img_payload()).frames
    job = run_job(medvram_server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(video_length=12, batch_size=8)))
    assert_animation(job, medvram_server, frames=12)
    plain_after = run_job(medvram_server, "txt2img", txt2img_payload()).frames
    assert len(plain_after) == 1 and (plain_after[0] == plain_before[0]).all()


@pytest.mark.forge_only("Forge's memory manager")
def test_forge_loads_the_motion_modules_with_the_unet_in_every_pass_and_only_in_the_job(server: WebUIServer) -> None:
    """Every model call of an animation with Hires. fix (whose pass starts again from the model's
    patcher) runs with the motion modules among the UNet patcher's extra models and in the memory
    manager's loaded models, where it can free them when it needs room; a plain job's patcher has
    no such extra model after the job."""
    plain = txt2img_payload(steps=2)
    _, plain_before = run_recorded(server, "txt2img", plain)
    hires = {"enable_hr": True, "hr_scale": 1.5, "hr_second_pass_steps": 2, "denoising_strength": 0.5, "hr_upscaler": "Latent"}
    payload = txt2img_payload(steps=2, **hires, alwayson_scripts=animatediff(video_length=12, batch_size=8))
    job, events = run_recorded(server, "txt2img", payload)
    assert job.response.ok and len(job.frames) == 12, describe(job, server)
    calls = [(event["hr"], event["memory_manager"]) for event in events if event["kind"] == "denoiser"]
    assert {hr for hr, _ in calls} == {False, True}
    for hr, memory in calls:
        assert "MotionModuleSet" in memory["extras"] and "MotionModuleSet" in memory["loaded"], (hr, memory)
    _, plain_after = run_recorded(server, "txt2img", plain)
    before, after = ([e["memory_manager"]["extras"] for e in records if e["kind"] == "denoiser"] for records in (plain_before, plain_after))
    assert before == after and not any("MotionModuleSet" in each for each in after)


@pytest.mark.forge_only("Forge's memory estimate")
@pytest.mark.parametrize("animation, counted", [({}, 8), ({"context_schedule": "views"}, 12)], ids=["windows", "views"])
def test_forges_memory_estimate_counts_the_rows_of_one_unet_call(server: WebUIServer, animation: dict, counted: int) -> None:
    """Forge makes room before sampling, and decides whether cond and uncond share a call, by its
    model's memory estimate for the latents' rows. Of 12 frames in windows of 8, a UNet call holds
    8 frames of each video, under the views schedule all 12; a plain job's estimate is as before."""
    payload = txt2img_payload(steps=2, alwayson_scripts=animatediff(video_length=12, batch_size=8, **animation))
    _, events = run_recorded(server, "txt2img", payload)
    calls = [(event["x"].shape[0], event["memory_manager"]["estimate_rows"]) for event in events if event["kind"] == "denoiser"]
    assert calls and all(estimated == rows // 12 * counted for rows, estimated in calls), calls
    _, plain = run_recorded(server, "txt2img", txt2img_payload(steps=2))
    calls = [(event["x"].shape[0], event["memory_manager"]["estimate_rows"]) for event in plain if event["kind"] == "denoiser"]
    assert calls and all(estimated == rows for rows, estimated in calls), calls
