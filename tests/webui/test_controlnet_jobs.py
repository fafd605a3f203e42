"""Video to video with sd-webui-controlnet v1.1.455 in a real WebUI (see conftest.py).

The source video's frames are flat greys, a different one per frame, and the unit uses no
preprocessor, so every hint row ControlNet's model receives names its frame by its mean.
The test extension ``record_control_hints`` logs those means for every ControlNet call.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from webui_api import (
    CONTROL_HINTS_LOG,
    IMG2IMG_BATCH_ROUTE,
    WebUIServer,
    animatediff,
    assert_animation,
    batch_tab_animation,
    decode_png,
    describe,
    difference,
    encode_png,
    flat_frames,
    mean_abs_diff,
    run_job,
    sampling_records,
    txt2img_payload,
)

from lib_animatediff.sampling.context import ClosedLoop, ContextSchedule

pytestmark = pytest.mark.a1111_only("sd-webui-controlnet does not run on Forge; Forge's built-in ControlNet has its jobs in test_forge_controlnet_jobs.py")

FRAMES = 16
CONTEXT = 8
OVERLAP = 2
STEPS = 2


def _grey(frame: int) -> int:
    return 10 + 15 * frame


def _frame_folder(folder: Path) -> Path:
    return flat_frames(folder, [_grey(frame) for frame in range(FRAMES)], "{:05d}.png")


def _frame_of(mean: float) -> int:
    frame = (mean * 255 - 10) / 15
    assert abs(frame - round(frame)) < 0.1, f"hint mean {mean} is no frame's grey"
    return round(frame)


@pytest.fixture(scope="module")
def plain_before(controlnet_server: WebUIServer) -> np.ndarray:
    """A plain txt2img before any AnimateDiff job with ControlNet: the restore probe."""
    return controlnet_server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS)).images()[0]


def _controlnet_unit(model: str) -> dict:
    # no detected map: ControlNet would add it to the answer's images
    return {"enabled": True, "module": "none", "model": model, "weight": 1.0, "resize_mode": "Just Resize", "save_detected_map": False}


def test_units_follow_the_video_frame_by_frame_in_every_window(
    controlnet_server: WebUIServer, controlnet_model: str, plain_before: np.ndarray, tmp_path: Path
) -> None:
    server = controlnet_server
    frames = _frame_folder(tmp_path / "frames")
    hints_log = Path(server.data_dir) / CONTROL_HINTS_LOG
    seen_before = len(hints_log.read_text().splitlines()) if hints_log.exists() else 0
    animation = animatediff(video_path=str(frames), video_length=0, batch_size=CONTEXT, overlap=OVERLAP)
    payload = txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": [_controlnet_unit(controlnet_model)]}})
    job = run_job(server, "txt2img", payload)
    assert_animation(job, server, frames=FRAMES)  # frames 0: the video's 16

    calls = [json.loads(line) for line in hints_log.read_text().splitlines()[seen_before:]]
    schedule = ContextSchedule(context=CONTEXT, overlap=OVERLAP, closed_loop=ClosedLoop.NONE)
    expected = {tuple(window) for step in range(STEPS) for window in schedule.windows(FRAMES, step)}
    seen = set()
    for call in calls:
        assert call["hint_rows"] == call["rows"], f"ControlNet got {call['hint_rows']} hints for {call['rows']} rows"
        ids = [_frame_of(mean) for mean in call["hint_means"]]
        cond, uncond = ids[: len(ids) // 2], ids[len(ids) // 2 :]
        assert cond == uncond, f"cond and uncond rows saw different frames' hints: {ids}"
        assert tuple(cond) in expected, f"a model call saw the hints of frames {cond}, which is no context window"
        seen.add(tuple(cond))
    assert seen == expected, f"windows without ControlNet hints: {sorted(expected - seen)}"
    assert "takes the video's frames" in server.log_text()

    # the ControlNet acts: the same job without it gives other frames
    plain = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts=animation))
    assert_animation(plain, server, frames=FRAMES)
    assert max(mean_abs_diff(a, b) for a, b in zip(job.frames, plain.frames)) > 1.0, describe(job, server)


def test_a_unit_with_its_own_image_keeps_it_and_the_webui_is_unchanged_after(
    controlnet_server: WebUIServer, controlnet_model: str, plain_before: np.ndarray, tmp_path: Path
) -> None:
    server = controlnet_server
    frames = _frame_folder(tmp_path / "frames")
    unit = {**_controlnet_unit(controlnet_model), "image": encode_png(np.full((64, 64, 3), 200, dtype=np.uint8))}
    hints_log = Path(server.data_dir) / CONTROL_HINTS_LOG
    seen_before = len(hints_log.read_text().splitlines()) if hints_log.exists() else 0
    animation = animatediff(video_path=str(frames), video_length=8, batch_size=CONTEXT)
    job = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": [unit]}}))
    assert_animation(job, server, frames=8)
    calls = [json.loads(line) for line in hints_log.read_text().splitlines()[seen_before:]]
    assert calls and all(abs(mean * 255 - 200) < 1 for call in calls for mean in call["hint_means"])

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the AnimateDiff + ControlNet jobs"


def test_a_unit_with_its_own_shorter_frame_folder_sets_the_length(controlnet_server: WebUIServer, controlnet_model: str, tmp_path: Path) -> None:
    server = controlnet_server
    video = _frame_folder(tmp_path / "video")  # 16 frames
    own = tmp_path / "own"
    own.mkdir()
    for frame in range(6):
        Image.fromarray(np.full((64, 64, 3), 250 - frame, dtype=np.uint8)).save(own / f"{frame:05d}.png")
    own_unit = {**_controlnet_unit(controlnet_model), "animatediff_batch": True, "batch_images": str(own)}
    units = [_controlnet_unit(controlnet_model), own_unit]
    animation = animatediff(video_path=str(video), video_length=0, batch_size=CONTEXT)
    job = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": units}}))
    assert_animation(job, server, frames=6)  # the shortest source: the unit's own 6 frames


def _batch_folder(folder: Path, count: int) -> Path:
    """``img0.png`` … (``img10`` after ``img9``), frame ``i`` a flat ``_grey(i)``."""
    return flat_frames(folder, [_grey(frame) for frame in range(count)], "img{}.png")


def test_the_img2img_batch_tab_folder_is_one_animation(
    controlnet_server: WebUIServer, controlnet_model: str, plain_before: np.ndarray, tmp_path: Path
) -> None:
    """sd-webui-controlnet hands the Batch tab's run to AnimateDiff: the folder's 12 images are
    the frames (frames 0: as many as the folder holds), the unit without an image takes them
    frame by frame in every window, one GIF of 12 frames; a mask folder whose masks are no
    frame's is refused with the reason, and a plain job after is as before."""
    server = controlnet_server
    frames = _batch_folder(tmp_path / "batch", 12)
    hints_log = Path(server.data_dir) / CONTROL_HINTS_LOG
    seen_before = len(hints_log.read_text().splitlines()) if hints_log.exists() else 0
    animation = animatediff(video_length=0, batch_size=CONTEXT, overlap=OVERLAP)["AnimateDiff"]["args"][0]
    request = {"input_dir": str(frames), "steps": STEPS, "animatediff": animation, "controlnet": [_controlnet_unit(controlnet_model)]}
    batch_tab_animation(server, request, 12)
    calls = [json.loads(line) for line in hints_log.read_text().splitlines()[seen_before:]]
    # img2img samples from a later step of its schedule than txt2img: any step's windows count
    schedule = ContextSchedule(context=CONTEXT, overlap=OVERLAP, closed_loop=ClosedLoop.NONE)
    windows = {tuple(window) for step in range(4 * STEPS) for window in schedule.windows(12, step)}
    seen = set()
    for call in calls:
        assert call["hint_rows"] == call["rows"], f"ControlNet got {call['hint_rows']} hints for {call['rows']} rows"
        ids = [_frame_of(mean) for mean in call["hint_means"]]
        assert ids[: len(ids) // 2] == ids[len(ids) // 2 :], f"cond and uncond rows saw different frames' hints: {ids}"
        seen.add(tuple(ids[: len(ids) // 2]))
    assert seen <= windows, f"model calls saw the hints of {sorted(seen - windows)}, which are no context windows"
    assert set().union(*seen) == set(range(12)), f"the model calls saw the hints of {sorted(seen)}: not every frame"

    masks = tmp_path / "masks"
    masks.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("L", (64, 64), 255).save(masks / name)
    refused = server.post(IMG2IMG_BATCH_ROUTE, {**request, "mask_dir": str(masks)})
    assert refused.status == 422 and "holds no mask named like the frame(s) img0.png" in refused.text, refused.text[:2000]

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the img2img batch jobs"


def _mask_folder(folder: Path, boxes: list[tuple[int, int, int, int]]) -> Path:
    """Frame ``i``'s inpaint mask, named as its frame: white in ``boxes[i]`` (left, top, right, bottom)."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame, box in enumerate(boxes):
        mask = Image.new("L", (64, 64), 0)
        mask.paste(255, box)
        mask.save(folder / f"img{frame}.png")
    return folder


def _batch_job(server: WebUIServer, request: dict) -> tuple[list[np.ndarray], list[dict]]:
    """The frames of an img2img Batch-tab job and what the record_sampling extension recorded of it."""
    import torch

    before = len(sampling_records(server))
    answer = server.post(IMG2IMG_BATCH_ROUTE, request)
    assert answer.ok, f"HTTP {answer.status}: {answer.text[:2000]}\n{server.log_tail(60)}"
    records = sampling_records(server)[before:]
    assert len(records) == 1, f"{len(records)} sampling records for one job"
    return [decode_png(png) for png in answer.body["pngs"]], torch.load(records[0], weights_only=True)


def test_a_mask_per_frame_inpaints_each_frame_where_its_own_mask_is(
    controlnet_server: WebUIServer, controlnet_model: str, plain_before: np.ndarray, tmp_path: Path
) -> None:
    """The Batch tab's mask folder with a mask per frame (named as the frames): even frames are
    inpainted in their left half, odd frames in their right half. The sampler blends each frame
    with its own mask (its latents stay at the init outside it, step after step, and change
    inside), the decoded frames keep their own picture outside their mask exactly and are
    new inside; with "only masked" each frame's crop is pasted back where its own mask is."""
    server = controlnet_server
    count = 12
    frames = _batch_folder(tmp_path / "batch", count)
    halves = [(0, 0, 32, 64) if frame % 2 == 0 else (32, 0, 64, 64) for frame in range(count)]
    animation = animatediff(video_length=0, batch_size=CONTEXT, overlap=OVERLAP, format=["PNG"])["AnimateDiff"]["args"][0]
    request = {"input_dir": str(frames), "mask_dir": str(_mask_folder(tmp_path / "halves", halves)), "steps": 4, "mask_blur": 0,
               "animatediff": animation, "controlnet": [_controlnet_unit(controlnet_model)]}  # fmt: skip
    pictures, events = _batch_job(server, request)
    assert len(pictures) == count

    denoised = [event["x"] for event in events if event["kind"] == "denoised"]
    assert len(denoised) >= 2 and denoised[0].shape[0] == count, [tuple(x.shape) for x in denoised]
    for frame, picture in enumerate(pictures):
        # latent columns 0-3 are the left half; the one at the mask's edge is left out
        inside, outside = (slice(0, 3), slice(5, 8)) if frame % 2 == 0 else (slice(5, 8), slice(0, 3))
        kept = [x[frame, :, :, outside] for x in denoised]
        assert all(later.equal(kept[0]) for later in kept[1:]), f"frame {frame}: the latents outside its mask changed"
        changed = max(float((x[frame, :, :, inside] - denoised[0][frame, :, :, inside]).abs().mean()) for x in denoised[1:])
        assert changed > 1e-3, f"frame {frame}: the latents inside its mask never changed"
        left, right = picture[:, :32], picture[:, 32:]
        new, old = (left, right) if frame % 2 == 0 else (right, left)
        assert np.all(old == _grey(frame)), f"frame {frame}: outside its mask: {difference(old, np.full_like(old, _grey(frame)))}"
        assert mean_abs_diff(new, np.full_like(new, _grey(frame))) > 2, f"frame {frame}: inside its mask it is its own picture"

    squares = [(8 + 8 * (frame % 4), 24, 24 + 8 * (frame % 4), 40) for frame in range(count)]
    only_masked = {**request, "mask_dir": str(_mask_folder(tmp_path / "squares", squares)), "inpaint_full_res": True}
    pictures, _ = _batch_job(server, only_masked)
    for frame, (picture, (x0, y0, x1, y1)) in enumerate(zip(pictures, squares)):
        outside = picture.copy()
        outside[y0:y1, x0:x1] = _grey(frame)
        assert np.all(outside == _grey(frame)), f"frame {frame}: outside its square: {difference(outside, np.full_like(outside, _grey(frame)))}"
        square = picture[y0:y1, x0:x1]
        # a crop pasted anywhere else leaves the square empty (black)
        assert square.mean() > 2 and mean_abs_diff(square, np.full_like(square, _grey(frame))) > 2, f"frame {frame}: its square"

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the inpainting batch jobs"


def test_an_ip_adapter_unit_fed_the_video_is_refused_with_the_reason(
    controlnet_server: WebUIServer, plain_before: np.ndarray, tmp_path: Path
) -> None:
    """sd-webui-controlnet v1.1.455 cannot prepare an IP-Adapter on more than one image in
    AnimateDiff's batch mode (the job would run on without any ControlNet): 422 before sampling."""
    server = controlnet_server
    frames = _frame_folder(tmp_path / "frames")
    unit = {"enabled": True, "module": "ip-adapter_clip_sd15", "model": "ip-adapter_sd15", "weight": 1.0}
    animation = animatediff(video_path=str(frames), video_length=8, batch_size=CONTEXT)
    job = run_job(server, "txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": [unit]}}))
    assert job.response.status == 422, describe(job, server)
    assert "ControlNet unit 0 (ip-adapter_sd15) is an IP-Adapter that would take the video's frames" in job.response.text, job.response.text
    assert not job.gifs
    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the refused job"

