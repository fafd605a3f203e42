"""AnimateDiff with A1111's Settings → Optimizations → FP8 weight: A1111 stores the UNet's
convolution and linear weights in float8 and runs it under autocast (bfloat16 on a CPU). The
motion modules cannot compute in float8; they take the dtype of the layers A1111 leaves as
they were, and the job runs (before, they were cast to float8 and sampling crashed)."""

from __future__ import annotations

import numpy as np
import pytest
from webui_api import WebUIServer, animatediff, assert_animation, describe, run_job, txt2img_payload

pytestmark = pytest.mark.a1111_only("A1111's FP8 weight setting; Forge stores weights its own way")


def _set_fp8(server: WebUIServer, value: str) -> None:
    answer = server.post("/sdapi/v1/options", {"fp8_storage": value})
    assert answer.ok, f"setting fp8_storage={value}: HTTP {answer.status} {answer.text[:300]}"


def test_a_windowed_job_under_fp8_weight_and_the_webui_after(fp8_server: WebUIServer) -> None:
    plain_before = run_job(fp8_server, "txt2img", txt2img_payload())
    assert plain_before.response.ok, describe(plain_before, fp8_server)
    _set_fp8(fp8_server, "Enable")
    try:
        log_start = len(fp8_server.log_text())
        job = run_job(fp8_server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(video_length=12, batch_size=8)))
        assert_animation(job, fp8_server, frames=12)
        assert all(frame.std() > 1 for frame in job.frames), "flat frames under FP8 weight"
        log = fp8_server.log_text()[log_start:]
        injected = [line for line in log.splitlines() if "[AnimateDiff]" in line and "injected" in line]
        assert injected and "torch.float32" in injected[-1], injected
        plain_fp8 = run_job(fp8_server, "txt2img", txt2img_payload())
        assert plain_fp8.response.ok and len(plain_fp8.frames) == 1, describe(plain_fp8, fp8_server)
        assert not np.array_equal(plain_fp8.frames[0], plain_before.frames[0]), "FP8 weight changed nothing: was it applied?"
    finally:
        _set_fp8(fp8_server, "Disable")
    plain_after = run_job(fp8_server, "txt2img", txt2img_payload())  # reloads the checkpoint in full
    assert len(plain_after.frames) == 1 and np.array_equal(plain_after.frames[0], plain_before.frames[0]), describe(plain_after, fp8_server)
