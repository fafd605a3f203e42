"""SparseCtrl (AnimateDiff v3's sparse ControlNet) through sd-webui-controlnet v1.1.455 in a real
WebUI: ControlNet builds the model with this extension's ``scripts.animatediff_mm`` and reads the
job through ``scripts.animatediff_utils`` (see conftest.py for the random-weight models).

Two keyframe images at frames 0 and 15 of 16, in context windows of 8: ControlNet's recorded
hint rows (``create_cond_mask``: the image and a mask channel of 1 at keyframes, zeros
elsewhere) must reach exactly the model calls of the windows holding those frames.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SPARSECTRL_MODELS
from PIL import Image
from webui_api import (
    CONTROL_HINTS_LOG,
    HF_PATH,
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    download_settings,
    mean_abs_diff,
    run_job,
    txt2img_payload,
    wait_for_download,
)

from lib_animatediff.devtools.file_server import ServerBehaviour, serving
from lib_animatediff.sampling.context import ClosedLoop, ContextSchedule

pytestmark = pytest.mark.a1111_only("SparseCtrl comes through sd-webui-controlnet, which does not run on Forge")

FRAMES, CONTEXT, OVERLAP, STEPS = 16, 8, 2, 2
KEYFRAMES = (0, 15)


def _keyframe_folder(folder: Path, seeds: tuple[int, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(seeds):
        pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{number:02d}.png")
    return folder


def _unit(server: WebUIServer, kind: str, folder: Path) -> dict:
    listed = server.get("/controlnet/model_list").body["model_list"]
    model = next(name for name in listed if name.split(" [")[0] == SPARSECTRL_MODELS[kind])
    return {
        "enabled": True, "module": "none", "model": model, "weight": 1.0, "resize_mode": "Just Resize", "save_detected_map": False,
        "animatediff_batch": True, "batch_images": f"{folder}\nkeyframe:{','.join(map(str, KEYFRAMES))}",
    }  # fmt: skip


def _calls(server: WebUIServer, since: int) -> list[dict]:
    return [json.loads(line) for line in (server.data_dir / CONTROL_HINTS_LOG).read_text().splitlines()[since:]]


def _logged(server: WebUIServer) -> int:
    log = server.data_dir / CONTROL_HINTS_LOG
    return len(log.read_text().splitlines()) if log.exists() else 0


def _job(server: WebUIServer, kind: str, folder: Path) -> tuple:
    since = _logged(server)
    animation = animatediff(video_length=FRAMES, batch_size=CONTEXT, overlap=OVERLAP)
    payload = txt2img_payload(steps=STEPS, alwayson_scripts={**animation, "controlnet": {"args": [_unit(server, kind, folder)]}})
    job = run_job(server, "txt2img", payload)
    assert_animation(job, server, frames=FRAMES)
    return job, _calls(server, since)


@pytest.fixture(scope="module")
def plain_before(sparsectrl_server: WebUIServer) -> np.ndarray:
    return sparsectrl_server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS)).images()[0]


@pytest.fixture(scope="module")
def warmed_up(sparsectrl_server: WebUIServer, plain_before: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> None:
    """One job of the tests' shape first: on this CPU host the first comes out differently."""
    _job(sparsectrl_server, "rgb", _keyframe_folder(tmp_path_factory.mktemp("warm-up"), (1, 2)))


@pytest.mark.parametrize("kind", ["rgb", "scribble"])
def test_keyframes_condition_exactly_their_frames_in_every_window(
    sparsectrl_server: WebUIServer, plain_before: np.ndarray, warmed_up: None, kind: str, tmp_path: Path
) -> None:
    server = sparsectrl_server
    job, calls = _job(server, kind, _keyframe_folder(tmp_path / "keyframes", (1, 2)))

    schedule = ContextSchedule(context=CONTEXT, overlap=OVERLAP, closed_loop=ClosedLoop.NONE)
    windows = {tuple(window) for step in range(STEPS) for window in schedule.windows(FRAMES, step)}
    expected = {tuple(i for i, frame in enumerate(window) if frame in KEYFRAMES) for window in windows}
    seen, keyframe_means = set(), {frame: set() for frame in KEYFRAMES}
    assert calls, f"no ControlNet call recorded\n{server.log_tail(40)}"
    for call in calls:
        assert call["rows"] == 2 * CONTEXT and call["hint_rows"] == call["rows"], f"{call['hint_rows']} hint rows for {call['rows']} rows"
        cond, uncond = call["hint_means"][:CONTEXT], call["hint_means"][CONTEXT:]
        assert cond == uncond, "cond and uncond rows saw different hints"
        marked = tuple(i for i, mean in enumerate(cond) if mean != 0)
        assert marked in expected, f"hint rows {marked} of a window are no window's keyframes: {cond}"
        seen.add(marked)
        if marked:  # the first marked row is frame 0's where a window holds it, else frame 15's
            keyframe_means[0 if marked[0] == 0 else 15].add(cond[marked[0]])
    assert seen == expected, f"windows whose keyframe rows were never seen: {sorted(expected - seen)}"
    assert keyframe_means[0] and keyframe_means[15] and keyframe_means[0].isdisjoint(keyframe_means[15])

    # another image at frame 15 changes the end of the video more than its start (which no
    # window holding frame 15 reaches); a random VAE shows latent changes faintly in pixels
    other, _ = _job(server, kind, _keyframe_folder(tmp_path / "other", (1, 3)))
    start = np.mean([mean_abs_diff(a, b) for a, b in zip(job.frames[:4], other.frames[:4])])
    end = np.mean([mean_abs_diff(a, b) for a, b in zip(job.frames[-4:], other.frames[-4:])])
    assert end > max(2 * start, 0.05), f"frame 15's keyframe moved the start {start:.3f} and the end {end:.3f}\n{describe(other, server)}"

    after = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS))
    assert np.array_equal(after.images()[0], plain_before), "a plain txt2img differs after the SparseCtrl jobs"


def test_sparsectrl_without_animatediff_is_refused_with_a_clear_message(sparsectrl_server: WebUIServer, tmp_path: Path) -> None:
    server = sparsectrl_server
    # no keyframe line: the image is frame 0's (a keyframe past the one-image batch would make
    # ControlNet itself fail and skip the unit before any motion module runs)
    unit = {**_unit(server, "rgb", _keyframe_folder(tmp_path / "keyframes", (1,))), "batch_images": str(tmp_path / "keyframes")}
    answer = server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS, alwayson_scripts={"controlnet": {"args": [unit]}}))
    assert answer.status == 422 and "runs only in an AnimateDiff job" in answer.text, f"HTTP {answer.status}: {answer.text[:800]}"
    assert server.post("/sdapi/v1/txt2img", txt2img_payload(steps=STEPS)).ok  # the WebUI keeps serving


def test_a_controlnet_model_from_the_catalog_lands_where_controlnet_lists_it(
    sparsectrl_server: WebUIServer, sparsectrl_model_dir: Path, tmp_path: Path
) -> None:
    """The download panel's ControlNet kind (the SparseCtrl entries): a catalog entry of a
    random SparseCtrl file, fetched from a local mirror, goes to the WebUI's ControlNet folder
    (not the motion-module or Lora folder) and ControlNet lists it after a refresh."""
    server, name = sparsectrl_server, "mm_sd15_v3_sparsectrl_test.safetensors"
    published = tmp_path / "files" / HF_PATH
    published.mkdir(parents=True)
    built = (sparsectrl_model_dir / f"{SPARSECTRL_MODELS['scribble']}.safetensors").resolve()
    try:  # the file server serves nothing outside its folder, a symlink's target included
        os.link(built, published / name)
    except OSError:
        shutil.copyfile(built, published / name)
    with (published / name).open("rb") as stream:  # ~1 GB: hashed as it is read, beside two WebUIs
        sha256 = hashlib.file_digest(stream, "sha256").hexdigest()
    entry = {
        "name": name, "kind": "ControlNet model", "family": "v3", "url": f"https://huggingface.co/{HF_PATH}/{name}",
        "size": (published / name).stat().st_size, "sha256": sha256, "licence": "Apache-2.0", "publisher": "test publisher",
        "description": "random SparseCtrl weights for the download test",
    }  # fmt: skip
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"files": [entry]}))
    listed_before = server.get("/controlnet/model_list?update=true").body["model_list"]
    assert not any(listed.split(" [")[0] == Path(name).stem for listed in listed_before)
    target = server.data_dir / "models" / "ControlNet" / name
    try:
        with serving(ServerBehaviour(tmp_path / "files")) as base_url, download_settings(server, catalog, base_url):
            labels = server.get("/animatediff/v1/catalog").body
            assert [(item["name"], item["kind"], item["installed"]) for item in labels] == [(name, "ControlNet model", False)]
            assert server.post("/animatediff/v1/motion-modules/download", {"name": name}).status == 202
            status = wait_for_download(server, name, timeout=600)
            assert status["state"] == "done", status
            assert Path(status["path"]) == target and target.is_file() and not target.is_symlink()
            assert not (server.data_dir / "models" / "Lora" / name).exists() and not (server.data_dir / "motion_modules" / name).exists()
            assert server.get("/animatediff/v1/catalog").body[0]["installed"] is True
        listed = server.get("/controlnet/model_list?update=true").body["model_list"]
        assert any(item.split(" [")[0] == Path(name).stem for item in listed), listed
    finally:
        target.unlink(missing_ok=True)
        server.get("/controlnet/model_list?update=true")

