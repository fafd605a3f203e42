"""Video to video with ControlNet: which units take the video, and per-window hints."""

from __future__ import annotations

import base64
import enum
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from lib_animatediff.sampling.context import ContextSchedule
from lib_animatediff.sampling.video_runner import VideoModelRunner
from lib_animatediff.errors import ParameterError
from lib_animatediff.undo import UndoStack
from lib_animatediff.webui.controlnet import (
    ForgeUnitFields,
    feed_frames,
    hints_for_rows,
    own_frame_counts,
    refuse_ip_adapters_per_frame,
    refuse_units_it_cannot_run,
    units_to_feed,
)
from lib_animatediff.webui.params import AnimateDiffParams
from lib_animatediff.webui.sent_inputs import with_sent_inputs_on_server


class _NoMotion:
    def video(self, frames, *settings):
        import contextlib

        return contextlib.nullcontext()


class ControlParams:
    """Like ControlNet's: setting hint_cond drops what the hook derived from the old one."""

    def __init__(self, hint):
        self._hint = hint
        self.used_hint_cond = "derived"
        self.hr_hint_cond = None

    @property
    def hint_cond(self):
        return self._hint

    @hint_cond.setter
    def hint_cond(self, value):
        self._hint = value
        self.used_hint_cond = None


def test_units_without_an_input_of_their_own_take_the_video_until_the_job_leaves(tmp_path):
    api_unit = {"enabled": True, "module": "canny", "model": "m"}
    with_image = {"enabled": True, "image": "iVBORw0KGgo="}
    disabled = {"enabled": False}
    ui_unit = SimpleNamespace(enabled=True, image=None, batch_images="", animatediff_batch=False)
    assert units_to_feed([api_unit, with_image, disabled, ui_unit]) == [api_unit, ui_unit]
    with UndoStack() as job:
        feed_frames(api_unit, tmp_path / "frames", tmp_path / "masks", job)
        feed_frames(ui_unit, tmp_path / "frames", None, job)
        assert api_unit["animatediff_batch"] is True and api_unit["batch_images"] == f"{tmp_path / 'frames'}\nmask:{tmp_path / 'masks'}"
        assert ui_unit.animatediff_batch is True and ui_unit.batch_images == str(tmp_path / "frames")
        assert units_to_feed([api_unit]) == []  # fed once, it has its input now
    # a UI unit outlives the job: the next job must not find a folder that is gone
    assert api_unit == {"enabled": True, "module": "canny", "model": "m"}
    assert (ui_unit.batch_images, ui_unit.animatediff_batch) == ("", False)


class InputMode(enum.Enum):  # Forge's lib_controlnet.enums.InputMode: a plain Enum
    SIMPLE = "simple"
    BATCH = "batch"


FORGE = ForgeUnitFields(batch_mode=InputMode.BATCH)


def test_forge_units_take_the_video_in_forges_batch_mode(tmp_path):
    api_unit = {"enabled": True, "module": "None", "model": "cn [0123abcd]"}
    ui_unit = SimpleNamespace(enabled=True, image=None, input_mode=InputMode.SIMPLE, batch_image_dir="", batch_input_gallery=None)
    with_array = SimpleNamespace(enabled=True, image=np.zeros((8, 8, 3), np.uint8), input_mode=InputMode.SIMPLE, batch_image_dir="")
    own_folder = {"enabled": True, "input_mode": InputMode.BATCH, "batch_image_dir": str(tmp_path)}
    assert units_to_feed([api_unit, ui_unit, with_array, own_folder], FORGE) == [api_unit, ui_unit]
    with UndoStack() as job:
        feed_frames(ui_unit, tmp_path / "frames", tmp_path / "masks", job, FORGE)
        assert ui_unit.input_mode is InputMode.BATCH and ui_unit.batch_image_dir == str(tmp_path / "frames")
        assert ui_unit.batch_mask_dir == str(tmp_path / "masks")
    assert ui_unit.input_mode is InputMode.SIMPLE and ui_unit.batch_image_dir == "" and not hasattr(ui_unit, "batch_mask_dir")
    count = lambda folder: 7 if folder == tmp_path else -1  # noqa: E731
    assert own_frame_counts([own_folder, api_unit], count, FORGE) == [7]
    assert own_frame_counts([own_folder], count) == []  # sd-webui-controlnet's fields name no folder there


def test_forge_batch_mode_asked_by_name_over_the_api_is_forges_batch_mode(tmp_path):
    """Forge's ControlNet compares input_mode with its enum, so JSON's "batch" would be its simple
    mode: the unit reads as sent, its frame list becomes a folder, both only for the job."""
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(image, "PNG")
    frame = base64.b64encode(image.getvalue()).decode()
    unit = {"enabled": True, "input_mode": "batch", "batch_image_dir": [frame, frame, frame]}
    with UndoStack() as job:
        with_sent_inputs_on_server(AnimateDiffParams(), [unit], job, FORGE)
        assert unit["input_mode"] is InputMode.BATCH
        folder = Path(unit["batch_image_dir"])
        assert len(list(folder.iterdir())) == 3
        assert own_frame_counts([unit], lambda f: len(list(f.iterdir())), FORGE) == [3]
    assert unit["input_mode"] == "batch" and not folder.exists()


def test_a_sparsectrl_unit_on_forge_is_refused_naming_the_unit_and_why():
    sparse = {"enabled": True, "module": "None", "model": "v3_sd15_sparsectrl_rgb [0123abcd]"}
    refuse_units_it_cannot_run([sparse])  # sd-webui-controlnet runs it
    refuse_units_it_cannot_run([{**sparse, "enabled": False}], FORGE)
    with pytest.raises(ParameterError, match=r"unit 1 \(v3_sd15_sparsectrl_rgb \[0123abcd\]\): SparseCtrl runs through sd-webui-controlnet"):
        refuse_units_it_cannot_run([{"enabled": True, "model": "cn"}, sparse], FORGE)


def test_forge_ip_adapter_fed_the_video_is_refused_with_forges_reason():
    fed = {"enabled": True, "module": "InsightFace+CLIP-H (IPAdapter)", "model": "ip-adapter_sd15 [abcd]"}
    with pytest.raises(ParameterError, match="first image of a batch only"):
        refuse_ip_adapters_per_frame([fed], fed_a_video=True, count_files=lambda folder: 0, fields=FORGE)


def test_units_with_their_own_batch_folder_count_towards_the_shortest_source(tmp_path):
    own = {"enabled": True, "animatediff_batch": True, "batch_images": f"{tmp_path}\nmask:/elsewhere"}
    keyframes = {"enabled": True, "animatediff_batch": True, "batch_images": f"{tmp_path}\nkeyframe:0,15"}  # SparseCtrl's two images
    counts = own_frame_counts([own, {"enabled": True}, keyframes], lambda folder: 5 if folder == tmp_path else -1)
    assert counts == [5]


def test_ip_adapter_units_on_more_than_one_image_are_refused_with_the_reason(tmp_path):
    """sd-webui-controlnet cannot prepare an IP-Adapter on several images in AnimateDiff's batch
    mode; with one image of its own the unit conditions every frame and is let through."""
    count = lambda folder: {tmp_path / "many": 8, tmp_path / "one": 1}.get(folder, 0)  # noqa: E731
    one_image = {"enabled": True, "module": "ip-adapter_clip_sd15", "model": "ip-adapter_sd15 [abcd]", "image": "iVBORw0KGgo="}
    canny = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny"}
    one_in_batch = {"enabled": True, "model": "ip-adapter_sd15", "animatediff_batch": True, "batch_images": str(tmp_path / "one")}
    off = {"enabled": False, "model": "ip-adapter_sd15"}
    refuse_ip_adapters_per_frame([one_image, canny, one_in_batch, off], fed_a_video=True, count_files=count)
    refuse_ip_adapters_per_frame([{"enabled": True, "model": "ip-adapter-plus_sd15"}], fed_a_video=False, count_files=count)
    fed = {"enabled": True, "module": "ip-adapter_clip_sd15", "model": "ip-adapter-plus_sd15"}
    with pytest.raises(ParameterError, match=r"unit 1 \(ip-adapter-plus_sd15\) is an IP-Adapter that would take the video's frames"):
        refuse_ip_adapters_per_frame([canny, fed], fed_a_video=True, count_files=count)
    many = {"enabled": True, "model": "ip_adapter_sd15", "animatediff_batch": True, "batch_images": f"{tmp_path / 'many'}\nkeyframe:0,7"}
    with pytest.raises(ParameterError, match="one image of its own"):
        refuse_ip_adapters_per_frame([many], fed_a_video=False, count_files=count)


@pytest.mark.parametrize("hint_rows_per_frame", [1, 2])
def test_each_call_sees_the_hints_of_its_rows_and_the_full_hints_come_back(hint_rows_per_frame):
    frames = 6
    full = torch.arange(hint_rows_per_frame * frames, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).contiguous()
    single = torch.ones(1, 3, 2, 2)
    params = [ControlParams(full), ControlParams(single)]
    index = torch.tensor([2, 3, 4, 8, 9, 10])  # frames 2-4 of cond and of uncond
    with hints_for_rows(params, index, frames):
        seen = params[0].hint_cond[:, 0, 0, 0].tolist()
        assert params[0].used_hint_cond is None  # ControlNet recomputes from the narrowed hint
        assert params[1].hint_cond is single  # one image for every frame: untouched
    expected = [2, 3, 4, 8, 9, 10] if hint_rows_per_frame == 2 else [2, 3, 4, 2, 3, 4]
    assert seen == expected
    assert params[0].hint_cond is full


@pytest.mark.parametrize("hint_rows_per_frame", [1, 2])
def test_with_and_prompts_every_sub_prompts_rows_see_the_cond_hints_of_their_frames(hint_rows_per_frame):
    """Two AND sub-prompts: the sampler's rows are sub-prompt 0's video, sub-prompt 1's, then
    the uncond video; a hint of 2F rows is ControlNet's [cond F, uncond F]."""
    frames = 4
    cond_marks, uncond_marks = list(range(frames)), [100 + f for f in range(frames)]
    marks = cond_marks + (uncond_marks if hint_rows_per_frame == 2 else [])
    params = [ControlParams(torch.tensor(marks, dtype=torch.float32).view(-1, 1, 1, 1))]
    index = torch.tensor([1, 2, 5, 6, 9, 10])  # frames 1-2 of each sub-prompt's video and of the uncond video
    with hints_for_rows(params, index, frames, cond_rows=2 * frames):
        seen = params[0].hint_cond[:, 0, 0, 0].tolist()
    uncond = [101, 102] if hint_rows_per_frame == 2 else [1, 2]
    assert seen == [1, 2, 1, 2, *uncond]


def test_hints_are_restored_when_the_call_raises():
    params = [ControlParams(torch.zeros(8, 3, 2, 2))]
    full = params[0].hint_cond
    with pytest.raises(RuntimeError), hints_for_rows(params, torch.tensor([0, 1]), 4):
        raise RuntimeError("model failed")
    assert params[0].hint_cond is full


def test_runner_windows_see_exactly_their_frames_hints():
    frames = 12
    schedule = ContextSchedule(context=4, overlap=1)
    hint = torch.arange(2 * frames, dtype=torch.float32).view(-1, 1)  # row r: hint r (cond and uncond)
    params = [ControlParams(hint)]
    seen = []

    def model(x, t, cond):
        seen.append((x[:, 0].tolist(), params[0].hint_cond[:, 0].tolist()))
        return x

    runner = VideoModelRunner(_NoMotion(), schedule, frames, around_call=lambda index, device: hints_for_rows(params, index, frames, device))
    x = torch.arange(2 * frames, dtype=torch.float32).view(-1, 1).expand(-1, 2).contiguous()  # row r holds r
    runner(model, x, torch.zeros(2 * frames), None)
    assert len(seen) == len(schedule.windows(frames, 0)) and all(rows == hints for rows, hints in seen)
    assert params[0].hint_cond is hint


def test_narrowed_hints_follow_the_model_call_to_its_device():
    """ControlNet leaves per-frame hints on the CPU; on a GPU the call's rows must be on the GPU
    (the meta device stands in for it here), while a hint for every frame is left as it is."""
    full, single = torch.rand(8, 3, 2, 2), torch.ones(1, 3, 2, 2)
    params = [ControlParams(full), ControlParams(single)]
    with hints_for_rows(params, torch.tensor([0, 1, 4, 5]), 4, torch.device("meta")):
        assert params[0].hint_cond.device.type == "meta" and params[0].hint_cond.shape[0] == 4
        assert params[1].hint_cond is single
    assert params[0].hint_cond is full
