"""Prompt travel in a real WebUI: keyframe lines, negative travel, prompt editing, errors."""

from __future__ import annotations

from webui_api import (
    SDXL_CHECKPOINT,
    SDXL_MOTION_MODULE,
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    mean_abs_diff,
    run_job,
    txt2img_payload,
)

TRAVEL = "masterpiece\n0: a cat\n4:   a fox\n7: a bird\nbest quality"


def test_prompt_travel_changes_the_frames_and_keeps_the_original_prompt_in_infotext(server: WebUIServer) -> None:
    plain = run_job(server, "txt2img", txt2img_payload(prompt="masterpiece, a cat, best quality", alwayson_scripts=animatediff()))
    travel = run_job(server, "txt2img", txt2img_payload(prompt=TRAVEL, alwayson_scripts=animatediff()))
    assert_animation(plain, server, frames=8)
    assert_animation(travel, server, frames=8)
    # the later frames travel towards other prompts, so they move away from the plain video
    assert mean_abs_diff(travel.frames[7], plain.frames[7]) > mean_abs_diff(travel.frames[0], plain.frames[0]) > 0
    info = travel.response.info()
    assert info["infotexts"][0].startswith(TRAVEL), info["infotexts"][0][:300]
    assert info["prompt"] == TRAVEL


def test_negative_travel_and_prompt_editing_inside_keyframes(server: WebUIServer) -> None:
    payload = txt2img_payload(
        prompt="0: [a cat:a fox:0.5]\n5: a bird", negative_prompt="0: blurry\n6: dark", alwayson_scripts=animatediff()
    )
    assert_animation(run_job(server, "txt2img", payload), server, frames=8)


def test_keyframe_past_the_last_frame_is_a_clear_error(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(prompt="0: a cat\n9: a fox", alwayson_scripts=animatediff()))
    assert job.response.status >= 400 and not job.gifs, describe(job, server)
    assert "line 2" in job.response.text and "9: a fox" in job.response.text, job.response.text[:800]


def test_prompt_travel_on_sdxl_interpolates_crossattn_and_vector_conditioning(server: WebUIServer) -> None:
    on_sdxl = {"override_settings": {"sd_model_checkpoint": SDXL_CHECKPOINT}}
    model = animatediff(SDXL_MOTION_MODULE, batch_size=0)
    plain = run_job(server, "txt2img", txt2img_payload(prompt="a cat", alwayson_scripts=model, **on_sdxl))
    travel = run_job(server, "txt2img", txt2img_payload(prompt="0: a cat\n7: a fox", alwayson_scripts=model, **on_sdxl))
    assert_animation(plain, server, frames=8)
    assert_animation(travel, server, frames=8)
    assert mean_abs_diff(travel.frames[7], plain.frames[7]) > mean_abs_diff(travel.frames[0], plain.frames[0])
    assert travel.response.info()["prompt"] == "0: a cat\n7: a fox"


def test_lerp_travel_differs_from_the_default_slerp(server: WebUIServer) -> None:
    prompt = "0: a cat\n7: a bird"
    slerp = run_job(server, "txt2img", txt2img_payload(prompt=prompt, alwayson_scripts=animatediff()))
    lerp = run_job(server, "txt2img", txt2img_payload(prompt=prompt, alwayson_scripts=animatediff(travel_interp="lerp")))
    assert_animation(slerp, server, frames=8)
    assert_animation(lerp, server, frames=8)
    # keyframes are the same conditioning either way; the frames between them are not
    assert mean_abs_diff(lerp.frames[0], slerp.frames[0]) < mean_abs_diff(lerp.frames[3], slerp.frames[3])
