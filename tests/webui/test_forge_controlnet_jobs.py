"""Video to video with Forge's built-in ControlNet in a real Forge (see harness_servers.py).

The source video's frames are flat greys, a different one per frame, and the unit uses no
preprocessor, so every hint row the control network receives names its frame by its mean.
Forge runs the control network on a model call's whole batch, before the UNet; the test
extension ``record_forge_control`` logs each run (hint rows, each row's middle output) and what
each UNet call adds after its middle block, so each UNet row is traced to the frame whose
control it got.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_models import CONTROLNET_MODEL, IP_ADAPTER_MODEL
from webui_api import (
    IMG2IMG_BATCH_ROUTE,
    WebUIServer,
    animatediff,
    batch_tab_animation,
    assert_animation,
    describe,
    encode_png,
    extension_constant,
    flat_frames,
    init_image_pattern,
    mean_abs_diff,
    run_job,
    txt2img_payload,
)

from lib_animatediff.sampling.context import ClosedLoop, ContextSchedule

pytestmark = pytest.mark.forge_only("Forge's built-in ControlNet; sd-webui-controlnet's jobs are in test_controlnet_jobs.py")

FRAMES = 16
CONTEXT = 8
OVERLAP = 2
STEPS = 2
LOG_NAME = extension_constant("record_forge_control", "LOG_NAME")


def _grey(frame: int) -> int:
    return 10 + 15 * frame


def _frame_of(mean: float) -> int:
    frame = (mean * 255 - 10) / 15
    assert abs(frame - round(frame)) < 0.1, f"hint mean {mean} is no frame's grey"
    return round(frame)


def _frame_folder(folder: Path, count: int = FRAMES, grey: Any = _grey) -> Path:
    return flat_frames(folder, [grey(frame) for frame in range(count)], "{:05d}.png")


@pytest.fixture(scope="module")
def controlnet_model(forge_controlnet_server: WebUIServer) -> str:
    """``CONTROLNET_MODEL`` as Forge names it (``"<stem> [<hash>]"``, which a unit must name exactly)."""
    listed = forge_controlnet_server.get("/controlnet/model_list").body["model_list"]
    return next(name for name in listed if name.split(" [")[0] == CONTROLNET_MODEL)


@pytest.fixture(scope="module")
def plain_before(forge_controlnet_server: WebUIServer) -> np.ndarray:
    """A plain txt2img before any AnimateDiff job with ControlNet: the restore probe."""
    return forge_controlnet_server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS)).images()[0]


def _unit(model: str, **values: Any) -> dict:
    return {"enabled": True, "module": "None", "model": model, "weight": 1.0, "resize_mode": "Just Resize", "save_detected_map": False, **values}


def _records(server: WebUIServer) -> list[dict]:
    log = Path(server.data_dir) / LOG_NAME
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _unet_rows_frames(records: list[dict], frames: int) -> list[list[int]]:
    """For each UNet call after a control network run, the frame whose control each of its rows
    added (by the row's middle output, found among the run's rows; run row r is frame r % frames)."""
    calls, run = [], None
    for record in records:
        if record["kind"] == "controlnet":
            hint_frames = [_frame_of(mean) for mean in record["hint_means"]]
            assert hint_frames == [row % frames for row in range(record["rows"])], f"hint rows are not the frames in order: {hint_frames}"
            run = {value: row % frames for row, value in enumerate(record["middle"])}
        elif record["middle"] is not None:
            assert run is not None, "a UNet call added control before any control network ran"
            missing = [value for value in record["middle"] if value not in run]
            assert not missing, f"a UNet call added control that no row of the last control network run gave: {missing[:4]}"
            calls.append([run[value] for value in record["middle"]])
    return calls


def test_units_follow_the_video_frame_by_frame_in_every_window(
    forge_controlnet_server: WebUIServer, controlnet_model: str, plain_before: np.ndarray, tmp_path: Path
) -> None:
    server = forge_controlnet_server
    frames = _frame_folder(tmp_path / "frames")
    seen_before = len(_records(server))
    animation = animatediff(video_path=str(frames), video_length=0, batch_size=CONTEXT, overlap=OVERLAP)
    payload = txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": [_unit(controlnet_model)]}})
    job = run_job(server, "txt2img", payload)
    assert_animation(job, server, frames=FRAMES)  # frames 0: the video's 16
    assert "takes the video's frames" in server.log_text()

    calls = _unet_rows_frames(_records(server)[seen_before:], FRAMES)
    schedule = ContextSchedule(context=CONTEXT, overlap=OVERLAP, closed_loop=ClosedLoop.NONE)
    expected = {tuple(window) for step in range(STEPS) for window in schedule.windows(FRAMES, step)}
    seen = set()
    for ids in calls:
        first, second = ids[: len(ids) // 2], ids[len(ids) // 2 :]
        assert first == second, f"cond and uncond rows added different frames' control: {ids}"
        assert tuple(first) in expected, f"a model call added the control of frames {first}, which is no context window"
        seen.add(tuple(first))
    assert seen == expected, f"windows without their frames' control: {sorted(expected - seen)}"

    # the ControlNet acts: the same job without it gives other frames
    plain = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts=animation))
    assert_animation(plain, server, frames=FRAMES)
    assert max(mean_abs_diff(a, b) for a, b in zip(job.frames, plain.frames)) > 1.0, describe(job, server)


def test_a_units_own_batch_folder_sent_by_name_sets_the_length_and_the_webui_is_unchanged_after(
    forge_controlnet_server: WebUIServer, controlnet_model: str, plain_before: np.ndarray, tmp_path: Path
) -> None:
    """Over the API ``"input_mode": "batch"`` is Forge's batch mode (Forge alone would take the
    text for its simple mode): the unit's own 6 frames, the shortest source, set the length, and
    the unit fed the video takes the video's frames beside it."""
    server = forge_controlnet_server
    video = _frame_folder(tmp_path / "video")
    own = _frame_folder(tmp_path / "own", 6, lambda frame: 250 - frame)
    units = [_unit(controlnet_model), _unit(controlnet_model, input_mode="batch", batch_image_dir=str(own))]
    seen_before = len(_records(server))
    animation = animatediff(video_path=str(video), video_length=0, batch_size=CONTEXT)
    job = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": units}}))
    assert_animation(job, server, frames=6)
    greys = [[round(mean * 255) for mean in record["hint_means"][:6]] for record in _records(server)[seen_before:] if record["kind"] == "controlnet"]
    assert [250 - frame for frame in range(6)] in greys, f"the unit's own frames never reached its control network: {greys[:4]}"
    assert [_grey(frame) for frame in range(6)] in greys, f"the video's frames never reached the other unit: {greys[:4]}"

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the AnimateDiff + ControlNet jobs"


def test_the_img2img_batch_tab_folder_is_one_animation(
    forge_controlnet_server: WebUIServer, controlnet_model: str, plain_before: np.ndarray, tmp_path: Path
) -> None:
    """Forge has no sd-webui-controlnet to hand the Batch tab's run over; AnimateDiff's host does:
    the folder's 12 images are one animation's frames (frames 0: as many as the folder holds),
    the unit without an image of its own takes them frame by frame in every window. With
    AnimateDiff off the tab's own loop runs, an image per input image."""
    server = forge_controlnet_server
    count = 12
    frames = _frame_folder(tmp_path / "batch", count)
    seen_before = len(_records(server))
    animation = animatediff(video_length=0, batch_size=CONTEXT, overlap=OVERLAP)["AnimateDiff"]["args"][0]
    request = {"input_dir": str(frames), "steps": STEPS, "animatediff": animation, "controlnet": [_unit(controlnet_model)]}
    batch_tab_animation(server, request, count)
    assert f"img2img batch: {count} frames from {frames} as one animation" in server.log_text()

    # img2img samples from a later step of its schedule than txt2img: any step's windows count
    schedule = ContextSchedule(context=CONTEXT, overlap=OVERLAP, closed_loop=ClosedLoop.NONE)
    windows = {tuple(window) for step in range(4 * STEPS) for window in schedule.windows(count, step)}
    seen = set()
    for ids in _unet_rows_frames(_records(server)[seen_before:], count):
        first, second = ids[: len(ids) // 2], ids[len(ids) // 2 :]
        assert first == second and tuple(first) in windows, f"a model call added the control of frames {ids}"
        seen.add(tuple(first))
    assert set().union(*seen) == set(range(count)), f"the model calls saw the control of {sorted(seen)}: not every frame"

    two = _frame_folder(tmp_path / "two", 2)
    gifs_before = server.gifs("img2img")
    looped = server.post(IMG2IMG_BATCH_ROUTE, {**request, "input_dir": str(two), "animatediff": {"enable": False}})
    assert looped.ok and looped.body["images"] == 2, f"HTTP {looped.status}: {looped.text[:1000]}"
    assert server.gifs("img2img") == gifs_before, "AnimateDiff off wrote an animation"

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the Batch tab jobs"


def test_an_ip_adapter_with_one_image_conditions_every_frame(forge_controlnet_server: WebUIServer, plain_before: np.ndarray) -> None:
    """Forge's IP-Adapter (CLIP-H embedding of the unit's one image, its tokens beside the
    prompt's in every cross-attention) in an animation of 16 frames in windows of 8: every frame
    of every window takes the image, so a job with another image differs in every frame."""
    server = forge_controlnet_server
    listed = server.get("/controlnet/model_list").body["model_list"]
    model = next(name for name in listed if name.split(" [")[0] == IP_ADAPTER_MODEL)
    animation = animatediff(video_length=FRAMES, batch_size=CONTEXT, overlap=OVERLAP)

    def job(image: np.ndarray | None) -> list[np.ndarray]:
        unit = {"enabled": True, "module": "CLIP-ViT-H (IPAdapter)", "model": model, "weight": 1.0, "save_detected_map": False}
        units = {"controlnet": {"args": [{**unit, "image": encode_png(image)}]}} if image is not None else {}
        done = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={**animation, **units}))
        assert_animation(done, server, frames=FRAMES)
        return done.frames

    without = [job(None) for _ in range(2)][-1]  # the first job of a shape can come out differently on the CPU
    first, second = job(init_image_pattern(seed=7)), job(255 - init_image_pattern(seed=8))
    by_image = [mean_abs_diff(a, b) for a, b in zip(first, second)]
    by_adapter = [mean_abs_diff(a, b) for a, b in zip(first, without)]
    assert min(by_image) > 0.5, f"frames the unit's image did not reach (mean |diff| per frame between two images): {by_image}"
    assert min(by_adapter) > 0.5, f"frames the IP-Adapter did not reach (mean |diff| per frame with and without it): {by_adapter}"

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the AnimateDiff + IP-Adapter jobs"


def test_an_ip_adapter_fed_the_video_is_refused_with_forges_reason(forge_controlnet_server: WebUIServer, tmp_path: Path) -> None:
    server = forge_controlnet_server
    unit = {"enabled": True, "module": "CLIP-ViT-H (IPAdapter)", "model": "ip-adapter_sd15 [00000000]"}
    animation = animatediff(video_path=str(_frame_folder(tmp_path / "frames", 8)), video_length=0)
    job = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": [unit]}}))
    assert job.response.status == 422 and not job.gifs, describe(job, server)
    assert "first image of a batch only" in job.response.text, job.response.text[:1000]


def test_a_sparsectrl_unit_is_refused_with_the_reason(forge_controlnet_server: WebUIServer) -> None:
    """Forge's ControlNet cannot load SparseCtrl (it would log an error and sample without it)."""
    unit = {"enabled": True, "module": "None", "model": "v3_sd15_sparsectrl_rgb [00000000]"}
    job = run_job(forge_controlnet_server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={**animatediff(), "controlnet": {"args": [unit]}}))
    assert job.response.status == 422 and not job.gifs, describe(job, forge_controlnet_server)
    assert "SparseCtrl runs through sd-webui-controlnet" in job.response.text, job.response.text[:1000]
