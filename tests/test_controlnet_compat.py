"""The interface sd-webui-controlnet imports from an AnimateDiff extension: SparseCtrl's motion
modules (published layout, strict loading, frames from the running job) and the job's settings
with keyframe interpolation for IP-Adapter keyframes."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.model.injection import VideoInCall
from lib_animatediff.model.sparsectrl import SPARSECTRL_CHANNELS
from lib_animatediff.sampling.prompt_travel import slerp
from lib_animatediff.webui.controlnet_compat import AnimateDiffArg, KeyframeScheduler, MotionModuleType, MotionWrapper, get_animatediff_arg
from lib_animatediff.webui.job import JOB_ATTRIBUTE
from lib_animatediff.webui.state import WEBUI

MODULE_KEYS = {  # one SparseCtrl motion module, as sd-webui-controlnet's loader hands it over (C: channels)
    "norm.weight": ("C",), "norm.bias": ("C",), "proj_in.weight": ("C", "C"), "proj_in.bias": ("C",),
    "transformer_blocks.0.attention_blocks.0.to_q.weight": ("C", "C"),
    "transformer_blocks.0.attention_blocks.0.to_k.weight": ("C", "C"),
    "transformer_blocks.0.attention_blocks.0.to_v.weight": ("C", "C"),
    "transformer_blocks.0.attention_blocks.0.to_out.0.weight": ("C", "C"),
    "transformer_blocks.0.attention_blocks.0.to_out.0.bias": ("C",),
    "transformer_blocks.0.attention_blocks.0.pos_encoder.pe": (1, 32, "C"),
    "transformer_blocks.0.norms.0.weight": ("C",), "transformer_blocks.0.norms.0.bias": ("C",),
    "transformer_blocks.0.ff.net.0.proj.weight": ("8C", "C"), "transformer_blocks.0.ff.net.0.proj.bias": ("8C",),
    "transformer_blocks.0.ff.net.2.weight": ("C", "4C"), "transformer_blocks.0.ff.net.2.bias": ("C",),
    "transformer_blocks.0.ff_norm.weight": ("C",), "transformer_blocks.0.ff_norm.bias": ("C",),
    "proj_out.weight": ("C", "C"), "proj_out.bias": ("C",),
}  # fmt: skip


def published_motion_keys(with_pe: bool = True) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for level, channels in enumerate(SPARSECTRL_CHANNELS):
        size = {"C": channels, "4C": 4 * channels, "8C": 8 * channels}
        for j in range(2):
            for key, shape in MODULE_KEYS.items():
                if key.endswith("pe") and not with_pe:
                    continue
                dims = [size.get(d, d) if isinstance(d, str) else d for d in shape]
                noise = torch.randn(*dims, generator=generator)
                # norms near 1 and linears at 1/sqrt(fan-in), or the signal fades through the block
                value = 1 + 0.1 * noise if "norm" in key and key.endswith("weight") else noise / dims[1] ** 0.5 if len(dims) == 2 else 0.1 * noise
                tensors[f"down_blocks.{level}.motion_modules.{j}.temporal_transformer.{key}"] = value
    return tensors


@pytest.fixture(scope="module")
def wrapper() -> MotionWrapper:
    built = MotionWrapper("", "", MotionModuleType.SparseCtrl)
    built.load_state_dict(published_motion_keys(), strict=True)
    return built


def test_the_published_layout_loads_strictly_with_or_without_positional_encodings(wrapper: MotionWrapper) -> None:
    keys = published_motion_keys()
    assert len(keys) == 160 and set(wrapper.state_dict()) == set(keys)
    assert torch.equal(wrapper.state_dict()["down_blocks.2.motion_modules.1.temporal_transformer.proj_out.weight"],
                       keys["down_blocks.2.motion_modules.1.temporal_transformer.proj_out.weight"])  # fmt: skip
    MotionWrapper("", "", MotionModuleType.SparseCtrl).load_state_dict(published_motion_keys(with_pe=False), strict=True)
    extra = {**keys, "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.norms.1.weight": torch.ones(320)}
    with pytest.raises(RuntimeError, match="Unexpected key"):
        MotionWrapper("", "", MotionModuleType.SparseCtrl).load_state_dict(extra, strict=True)
    missing = {k: v for k, v in keys.items() if not k.endswith("proj_in.bias")}
    with pytest.raises(RuntimeError, match="Missing key"):
        MotionWrapper("", "", MotionModuleType.SparseCtrl).load_state_dict(missing, strict=True)


def test_only_sparsectrl_is_built() -> None:
    with pytest.raises(ValueError, match="SparseCtrl's motion modules only"):
        MotionWrapper("", "", "AnimateDiffV3")  # type: ignore[arg-type]


def test_a_module_called_as_a_plain_layer_attends_over_the_running_calls_frames(wrapper: MotionWrapper) -> None:
    layer = wrapper.down_blocks[3].motion_modules[1]
    x = torch.randn(2 * 8, 1280, 2, 2)  # two videos (cond, uncond) of 8 frames
    with pytest.raises(AnimateDiffError, match="runs only in an AnimateDiff job"):
        layer(x)
    frames = VideoInCall()
    frames.count = 8
    WEBUI.video = frames
    try:
        out = layer(x)
        nudged = x.clone()
        nudged[0] += torch.randn_like(x[0])  # frame 0 of the first video (not a constant: GroupNorm removes those)
        changed = (layer(nudged) - out).abs().flatten(1).amax(1)
    finally:
        WEBUI.video = None
    assert out.shape == x.shape
    assert (changed[1:8] > 0.05).all(), "the other frames of the video did not see frame 0"
    assert (changed[8:] == 0).all(), "the other video saw frame 0"


def test_the_job_settings_controlnet_reads() -> None:
    assert get_animatediff_arg(SimpleNamespace()) is None
    params = SimpleNamespace(closed_loop="R+P", travel_interp="lerp")
    p = SimpleNamespace(**{JOB_ATTRIBUTE: SimpleNamespace(params=params, plan=SimpleNamespace(frames=24, context=16))})
    arg = get_animatediff_arg(p)
    assert isinstance(arg, AnimateDiffArg) and arg.enable
    assert (arg.video_length, arg.batch_size, arg.closed_loop, arg.prompt_scheduler.method) == (24, 16, "R+P", "lerp")
    arg.is_i2i_batch = True  # ControlNet sets it


def test_keyframes_interpolate_per_frame_rows_like_prompt_travel() -> None:
    cond = torch.randn(16, 4, 8)
    scheduler = copy.deepcopy(KeyframeScheduler())  # ControlNet works on a copy
    assert scheduler.multi_cond(cond, False) is cond  # no keyframes: unchanged
    scheduler.prompt_map = {8: "", 0: ""}  # as typed: order does not matter
    out = scheduler.multi_cond(cond, False)
    assert torch.equal(out[0], cond[0]) and torch.equal(out[8], cond[8])
    assert torch.allclose(out[4], slerp(cond[0], cond[8], 0.5), atol=1e-6)
    assert torch.equal(out[12], cond[8])  # after the last keyframe: held
    looped = scheduler.multi_cond(cond, True)
    assert torch.allclose(looped[12], slerp(cond[8], cond[0], 0.5), atol=1e-6)  # towards the first, around the seam
    scheduler.prompt_map = {0: "", 16: ""}
    with pytest.raises(AnimateDiffError, match="within the 16 frames"):
        scheduler.multi_cond(cond, False)
