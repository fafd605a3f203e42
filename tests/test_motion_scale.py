"""Motion scale: the motion modules' residual scaled per frame and per step."""

from __future__ import annotations

import pytest
import torch
from conftest import SD15_CHANNELS

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.devtools.tiny_unet import CONTEXT_DIM, build_unet
from lib_animatediff.errors import ParameterError
from lib_animatediff.model.families import V2, BaseModel
from lib_animatediff.model.injection import MotionModuleInjection
from lib_animatediff.sampling.motion_scale import parse_motion_scale
from lib_animatediff.webui.params import AnimateDiffParams


@pytest.mark.parametrize(
    "text, frames, expected",
    [
        ("0.6", 3, [0.6, 0.6, 0.6]),
        ("0-3: 1.0, 6-7: 0.5", 8, [1, 1, 1, 1, 5 / 6, 4 / 6, 0.5, 0.5]),
        ("0: 0, 4: 1", 6, [0, 0.25, 0.5, 0.75, 1, 1]),
        ("2: 1, 4: 0", 6, [1, 1, 1, 0.5, 0, 0]),  # held before the first key and after the last
        (" 3 : 2 ", 5, [2, 2, 2, 2, 2]),
    ],
)
def test_per_frame_scales_are_interpolated_between_keys_and_held_outside(text, frames, expected):
    assert parse_motion_scale(text).per_frame(frames).tolist() == pytest.approx(expected)


@pytest.mark.parametrize("text", ["fast", "0-7 1.0", "7-3: 1", "0: 1, 0: 2", "0-4: 1, 3: 2", ""])
def test_a_scale_that_does_not_parse_is_refused_naming_the_field(text):
    with pytest.raises(ParameterError, match="'motion_scale'"):
        parse_motion_scale(text)
    with pytest.raises(ParameterError, match="'motion_scale'"):
        AnimateDiffParams(motion_scale=text)


def test_steps_and_special_cases():
    part = parse_motion_scale("1", start=0.25, end=0.75)
    assert [part.acts_at(step, 8) for step in range(8)] == [False, False, True, True, True, True, False, False]
    assert parse_motion_scale("1").is_one and not part.is_one
    assert parse_motion_scale("0").is_off and parse_motion_scale("0: 0, 9: 0").is_off and not parse_motion_scale("0: 0, 9: 1").is_off
    with pytest.raises(ParameterError, match="past the video's last frame 7"):
        parse_motion_scale("0-9: 1").check_frames(8)
    assert AnimateDiffParams(motion_scale=0.5).motion_scale == "0.5"  # a number from an API client
    with pytest.raises(ParameterError, match="'motion_start'"):
        AnimateDiffParams(motion_start=0.6, motion_end=0.5)


def test_the_residual_is_scaled_per_frame():
    """Scale 0 leaves a frame as the UNet alone makes it, 1 is the module as trained, and in
    between the motion module's contribution is scaled."""
    frames = 4
    unet = build_unet(BaseModel.SD15, SD15_CHANNELS, seed=1)
    x, t = torch.randn(frames, 4, 8, 8), torch.full((frames,), 400)
    context = torch.randn(frames, 5, CONTEXT_DIM)
    with torch.no_grad():
        alone = unet(x, t, context=context)
        with MotionModuleInjection(unet, random_motion_modules(V2, SD15_CHANNELS, seed=2)) as injection:
            with injection.video(frames):
                full = unet(x, t, context=context)
            with injection.video(frames, torch.zeros(frames)):
                off = unet(x, t, context=context)
            with injection.video(frames, torch.tensor([0.0, 1.0, 1.0, 0.0])):
                mixed = unet(x, t, context=context)
    torch.testing.assert_close(off, alone)
    assert (full - alone).abs().mean() > 1e-3
    # the scale acts inside the UNet (each module's residual), so frames differ from both ends
    assert not torch.allclose(mixed, full) and not torch.allclose(mixed, alone)
