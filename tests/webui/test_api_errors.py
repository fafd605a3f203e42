"""The API answers like an HTTP API: every kind of wrong argument is 422 with a message naming
it (A1111's exception handler honours the error's status code), nothing is left changed, and
the next good job works."""

from __future__ import annotations

import os
import shlex

import pytest
import torch
from webui_api import WebUIServer, animatediff, assert_animation, describe, run_job, txt2img_payload


class RunsCode:
    """Unpickling this would run a shell command that writes a marker file."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo ran > {shlex.quote(str(self.marker))}",))


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"args": [{"enable": True, "frames": 8}]}, "unknown AnimateDiff argument 'frames'"),
        ({"args": [{"enable": True, "video_length": "eight"}]}, "'video_length' must be a number"),
        ({"args": [{"enable": True, "stride": 0}]}, "'stride' must be a whole number >= 1"),
        (animatediff(batch_size=48)["AnimateDiff"], "at most 32 frames"),
        (animatediff(format=[])["AnimateDiff"], "'format' must be a non-empty list"),
        (animatediff(request_id="../../etc")["AnimateDiff"], "'request_id' must be a plain name"),
        ({"args": [16, 8, True]}, "one dict of named arguments or the positional list"),
        (animatediff(model="absent.safetensors")["AnimateDiff"], "absent.safetensors"),
        (animatediff(closed_loop="loop")["AnimateDiff"], "'closed_loop' must be one of N, R-P, R+P, A"),
    ],
    ids=["unknown", "type", "value", "context", "formats", "request_id", "args", "model", "choice"],
)
def test_a_wrong_argument_is_422_with_its_message(server: WebUIServer, arguments: dict, words: str) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts={"AnimateDiff": arguments}))
    assert job.response.status == 422 and not job.gifs, describe(job, server)
    assert words in job.response.text, job.response.text[:800]


def test_a_broken_travel_prompt_is_422(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(prompt="0: a cat\n9: a fox", alwayson_scripts=animatediff()))
    assert job.response.status == 422 and "line 2" in job.response.text, describe(job, server)


def test_a_pickle_that_would_run_code_is_refused_saying_so(server: WebUIServer, tmp_path) -> None:
    marker = tmp_path / "ran"
    evil = server.data_dir / "motion_modules" / "evil_mm.ckpt"
    torch.save({"down_blocks.0.motion_modules.0.x": torch.ones(1), "payload": RunsCode(marker)}, evil)
    try:
        job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(model=evil.name)))
    finally:
        evil.unlink()
    assert job.response.status == 422 and "would run code" in job.response.text, describe(job, server)
    assert not marker.exists()


def test_a_good_job_right_after_works(server: WebUIServer) -> None:
    assert run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(format=[]))).response.status == 422
    assert_animation(run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff())), server, frames=8)
