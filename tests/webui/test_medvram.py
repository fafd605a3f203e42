"""AnimateDiff under --medvram, where A1111 moves UNet blocks between devices with hooks and
the motion modules must travel inside the blocks they sit in (see conftest.py)."""

from __future__ import annotations

import pytest
from webui_api import WebUIServer, animatediff, assert_animation, run_job, txt2img_payload

pytestmark = pytest.mark.a1111_only("A1111's --medvram block moves; Forge manages memory itself")


def test_windowed_job_under_medvram(medvram_server: WebUIServer) -> None:
    plain_before = run_job(medvram_server, "txt2img", txt2img_payload()).frames
    job = run_job(medvram_server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(video_length=12, batch_size=8)))
    assert_animation(job, medvram_server, frames=12)
    plain_after = run_job(medvram_server, "txt2img", txt2img_payload()).frames
    assert len(plain_after) == 1 and (plain_after[0] == plain_before[0]).all()
