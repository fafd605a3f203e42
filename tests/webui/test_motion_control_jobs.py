"""Control over motion and long videos in a real WebUI (issue 13): motion scale per frame and
per step, and the other options of the family; each changes the animation, the infotext
records it and pastes back, the X/Y/Z plot offers it."""

from __future__ import annotations

import numpy as np
from webui_api import (
    HOTSHOT_MOTION_MODULE,
    SDXL_CHECKPOINT,
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    mean_abs_diff,
    run_job,
    txt2img_payload,
)

from lib_animatediff.webui.infotext import pasted_values

ON_SDXL = {"override_settings": {"sd_model_checkpoint": SDXL_CHECKPOINT}}


def _frames(server: WebUIServer, **settings) -> list[np.ndarray]:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**settings)))
    assert_animation(job, server, frames=settings.get("video_length", 8))
    return job.frames


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


def test_a_motion_scale_that_does_not_parse_is_422(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(motion_scale="lots")))
    assert job.response.status == 422 and "'motion_scale'" in job.response.text, describe(job, server)


def test_the_new_controls_are_x_y_z_axes(server: WebUIServer) -> None:
    plot = next(s for s in server.get("/sdapi/v1/script-info").body if s["name"] == "x/y/z plot" and not s["is_img2img"])
    choices = plot["args"][0]["choices"]
    for label in ("Motion scale", "Motion from", "Motion until"):
        assert f"[AnimateDiff] {label}" in choices, choices
