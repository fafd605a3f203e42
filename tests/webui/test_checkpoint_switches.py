"""Jobs in which A1111 loads another checkpoint mid-sampling: Hires. fix with a checkpoint of its
own, and the refiner. A1111 loads the other checkpoint's weights into the running UNet by
state-dict key, so every layer must keep its key while the motion modules run (they run from
hooks; see lib_animatediff/model/injection.py). The record_sampling extension (conftest.py)
records, per CFG denoiser call, the loaded checkpoint, sums of UNet weights by key and the
motion modules running: each pass of an AnimateDiff job must run on the same weights as the
plain job's pass, with the motion modules, and the module's noise schedule throughout."""

from __future__ import annotations

import torch
from webui_api import (
    CHECKPOINT,
    SDXL_CHECKPOINT,
    SDXL_MOTION_MODULE,
    SDXL_REFINER,
    SECOND_CHECKPOINT,
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    run_job,
    run_recorded,
    txt2img_payload,
)

HIRES = {
    "enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Latent", "hr_second_pass_steps": 4, "denoising_strength": 0.6,
    "hr_checkpoint_name": SECOND_CHECKPOINT,
}  # fmt: skip
REFINER = {"steps": 4, "refiner_checkpoint": SECOND_CHECKPOINT, "refiner_switch_at": 0.5}


def _calls(events: list[dict]) -> list[dict]:
    return [event for event in events if event["kind"] == "denoiser"]


def _plain_image(server: WebUIServer):
    return server.post("/sdapi/v1/txt2img", txt2img_payload()).images()[0]


def _assert_same_weights_and_motion(animated: list[dict], plain: list[dict], what: str) -> None:
    """Each call of the AnimateDiff job ran on the same checkpoint and UNet weights as the plain
    job's call at that point, with the motion modules in; the plain job without them."""
    assert animated and len(animated) == len(plain), f"{what}: {len(animated)} calls, the plain job {len(plain)}"
    for number, (call, reference) in enumerate(zip(animated, plain)):
        assert call["checkpoint"] == reference["checkpoint"], f"{what}, call {number}: {call['checkpoint']}"
        assert call["weights"] == reference["weights"], f"{what}, call {number} ({call['checkpoint']}): UNet weights {call['weights']}"
        assert reference["motion_modules"] == 0 and call["motion_modules"] == animated[0]["motion_modules"] > 0, (
            f"{what}, call {number}: {call['motion_modules']} motion modules running"
        )


def _assert_module_schedule_throughout(animated: list[dict], plain: list[dict], what: str) -> None:
    schedule = animated[0]["alphas_cumprod"]
    assert not torch.equal(schedule, plain[0]["alphas_cumprod"]), f"{what}: the job sampled with the checkpoint's schedule"
    for number, call in enumerate(animated):
        assert torch.equal(call["alphas_cumprod"], schedule), f"{what}, call {number}: the schedule changed mid-job"


def test_hires_fix_with_another_checkpoint_runs_its_pass_on_that_checkpoints_whole_unet(checkpoints_server: WebUIServer) -> None:
    server = checkpoints_server
    plain_before = _plain_image(server)
    _, plain = run_recorded(server, "txt2img", txt2img_payload(**HIRES))
    job, animated = run_recorded(server, "txt2img", txt2img_payload(**HIRES, alwayson_scripts=animatediff()))
    assert job.response.ok and len(job.frames) == 8 and all(frame.shape == (96, 96, 3) for frame in job.frames), describe(job, server)
    passes = {}
    for hires in (False, True):
        what = "the hires pass" if hires else "the first pass"
        passes[hires] = [call for call in _calls(plain) if call["hr"] is hires]
        assert {call["checkpoint"] for call in passes[hires]} == {SECOND_CHECKPOINT if hires else CHECKPOINT}, what
        _assert_same_weights_and_motion([call for call in _calls(animated) if call["hr"] is hires], passes[hires], what)
    first, second = passes[False][0]["weights"], passes[True][0]["weights"]
    assert all(first[key] != second[key] for key in first), "the two checkpoints' weights must differ for this test to mean anything"
    _assert_module_schedule_throughout(_calls(animated), _calls(plain), "hires fix")
    assert (_plain_image(server) == plain_before).all(), "a plain job changed after the hires job"


def test_an_sd15_refiner_takes_over_with_its_whole_unet_and_the_motion_modules(checkpoints_server: WebUIServer) -> None:
    server = checkpoints_server
    plain_before = _plain_image(server)
    _, plain = run_recorded(server, "txt2img", txt2img_payload(**REFINER))
    job, animated = run_recorded(server, "txt2img", txt2img_payload(**REFINER, alwayson_scripts=animatediff()))
    assert_animation(job, server, frames=8)
    switched = [call["checkpoint"] for call in _calls(plain)]
    assert switched[0] == CHECKPOINT and switched[-1] == SECOND_CHECKPOINT, switched
    _assert_same_weights_and_motion(_calls(animated), _calls(plain), "refiner job")
    _assert_module_schedule_throughout(_calls(animated), _calls(plain), "refiner job")
    assert_animation(run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff())), server, frames=8)
    assert (_plain_image(server) == plain_before).all(), "a plain job changed after the refiner job"


def test_a_refiner_no_motion_module_fits_is_refused_before_sampling(checkpoints_server: WebUIServer) -> None:
    """The SDXL refiner (4 levels from 384 channels) on the SDXL checkpoint with an SDXL module,
    and on the SD 1.5 checkpoint with a v2 module: 422 naming the refiner and why."""
    server = checkpoints_server
    on_sdxl = {"override_settings": {"sd_model_checkpoint": SDXL_CHECKPOINT}}
    for payload in (
        txt2img_payload(**on_sdxl, refiner_checkpoint=SDXL_REFINER, refiner_switch_at=0.5, alwayson_scripts=animatediff(SDXL_MOTION_MODULE)),
        txt2img_payload(refiner_checkpoint=SDXL_REFINER, refiner_switch_at=0.5, alwayson_scripts=animatediff()),
    ):
        job = run_job(server, "txt2img", payload)
        assert job.response.status == 422 and not job.gifs, describe(job, server)
        assert f"refiner {SDXL_REFINER}" in job.response.text and "384 channels" in job.response.text, job.response.text[:1000]
    assert len(server.post("/sdapi/v1/txt2img", txt2img_payload()).images()) == 1
