"""IP-Adapter through sd-webui-controlnet v1.1.455 in AnimateDiff jobs (see conftest.py's
ip_adapter_server: a random IP-Adapter in the published ip-adapter_sd15 layout and a random
CLIP-H, recording every call of the adapter's attention).

A unit with one image conditions every frame: in every model call of every context window,
each cond row gets the image's keys and each uncond row the empty image's. A unit on more than
one image in AnimateDiff's batch mode cannot run in ControlNet v1.1.455 (see
test_controlnet_jobs.py for its refusal).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import IP_ADAPTER_MODEL
from webui_api import (
    IP_ADAPTER_LOG,
    WebUIServer,
    animatediff,
    assert_animation,
    encode_png,
    init_image_pattern,
    last_denoised,
    run_recorded,
    txt2img_payload,
)

pytestmark = pytest.mark.a1111_only("the IP-Adapter unit comes through sd-webui-controlnet, which does not run on Forge")

FRAMES = 12
CONTEXT = 8
STEPS = 2
CROSS_ATTENTION_LAYERS = 16  # SD 1.5's


def _calls(server: WebUIServer, before: int) -> list[dict]:
    log = Path(server.data_dir) / IP_ADAPTER_LOG
    return [json.loads(line) for line in log.read_text().splitlines()[before:]] if log.exists() else []


UNIT = {
    "enabled": True, "module": "ip-adapter_clip_sd15", "model": IP_ADAPTER_MODEL, "weight": 1.0,
    "image": encode_png(init_image_pattern(64, seed=3)), "resize_mode": "Just Resize", "save_detected_map": False,
}  # fmt: skip
ANIMATION = animatediff(video_length=FRAMES, batch_size=CONTEXT)


def _adapter_job(server: WebUIServer, prompts: int, **payload) -> list[dict]:
    """An AnimateDiff job with the IP-Adapter unit whose prompt has ``prompts`` AND sub-prompts:
    every call of every window holds one window of each sub-prompt and of the uncond, every
    conditional row gets the image's keys and every unconditional row the empty image's. The
    sampler's events."""
    before = len(_calls(server, 0))
    job, events = run_recorded(server, "txt2img", txt2img_payload(steps=STEPS, **payload, alwayson_scripts={**ANIMATION, "controlnet": {"args": [UNIT]}}))
    assert_animation(job, server, frames=FRAMES)
    calls = _calls(server, before)
    model_calls = [event for event in events if event["kind"] == "unet"]
    assert model_calls and len(calls) == CROSS_ATTENTION_LAYERS * len(model_calls), (len(calls), len(model_calls), server.log_tail(40))
    assert {event["rows"] for event in model_calls} == {(prompts + 1) * CONTEXT}, "each call: one window of each prompt and the uncond"
    for call in calls:
        assert call["rows"] == len(call["marks"]) == len(call["k_means"]), call
        cond = {key for key, mark in zip(call["k_means"], call["marks"]) if mark == 1}
        uncond = {key for key, mark in zip(call["k_means"], call["marks"]) if mark == 0}
        assert call["marks"].count(1) == prompts * CONTEXT and len(cond) == 1 and len(uncond) == 1 and cond != uncond, call
    return events


def test_an_ip_adapter_with_one_image_conditions_every_frame(ip_adapter_server: WebUIServer) -> None:
    server = ip_adapter_server
    plain_before = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS)).images()[0]
    events = _adapter_job(server, prompts=1)

    # the adapter acts on every frame: the same job without it ends elsewhere in each one
    plain, plain_events = run_recorded(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts=ANIMATION))
    assert_animation(plain, server, frames=FRAMES)
    with_adapter, without = last_denoised(events), last_denoised(plain_events)
    change = (with_adapter - without).abs().flatten(1).mean(1) / without.abs().mean()
    print(f"\nIP-Adapter: relative change of each frame's latents {[round(float(c), 3) for c in change]}")
    assert float(change.min()) > 0.05, change.tolist()

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS)).images()[0]
    assert np.array_equal(after, plain_before), "a plain txt2img differs after the AnimateDiff + IP-Adapter jobs"


def test_with_an_and_prompt_every_sub_prompt_gets_the_image(ip_adapter_server: WebUIServer) -> None:
    """Two AND sub-prompts: the job puts each sub-prompt's rows into whole videos, and in every
    call of every window ControlNet must still give all of them (twice the window's rows) the
    image's keys and only the unconditional rows the empty image's. (ControlNet picks the
    embedding by the mark each row carries, so this shows the rows arrive whole and marked, not
    the job's own mapping of 2F-row hints, which tests/test_controlnet.py checks.)"""
    _adapter_job(ip_adapter_server, prompts=2, prompt="a red ball AND a blue cube")
