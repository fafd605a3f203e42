"""The LCM sampler that A1111 v1.10.1 ships, with an AnimateLCM motion module."""

from __future__ import annotations

from webui_api import ANIMATELCM_MOTION_MODULE, WebUIServer, animatediff, assert_animation, run_job, txt2img_payload


def test_lcm_sampler_is_listed(server: WebUIServer) -> None:
    samplers = [sampler["name"] for sampler in server.get("/sdapi/v1/samplers").body]
    assert "LCM" in samplers, samplers


def test_animatelcm_generates_with_the_lcm_sampler(server: WebUIServer) -> None:
    payload = txt2img_payload(sampler_name="LCM", steps=4, cfg_scale=1.5, alwayson_scripts=animatediff(ANIMATELCM_MOTION_MODULE))
    job = run_job(server, "txt2img", payload)
    assert_animation(job, server, frames=8)
    log = server.log_tail(60)
    assert "AnimateLCM" in log and "injected AnimateLCM_sd15_t2v_random.safetensors" in log, log
