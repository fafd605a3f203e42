"""Positional-encoding stretch: a window longer than a module supports, laid over the positions
of the frames it was trained on."""

from __future__ import annotations

import pytest
import torch
from conftest import SD15_CHANNELS

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.errors import ParameterError
from lib_animatediff.model.families import HOTSHOTXL, V1, V2
from lib_animatediff.model.motion_module import interpolated_rows, sinusoidal_positions, stretched_positions
from lib_animatediff.sampling.plan import plan_job
from lib_animatediff.webui.params import AnimateDiffParams


def test_whole_positions_are_the_trained_table_and_fractions_lie_between_neighbours():
    table = sinusoidal_positions(24, 16)[0]
    torch.testing.assert_close(interpolated_rows(table, torch.arange(24).float()), table)
    half = interpolated_rows(table, torch.tensor([2.5]))[0]
    torch.testing.assert_close(half, (table[2] + table[3]) / 2)
    # smooth: a finely stretched table moves little from one position to the next
    fine = interpolated_rows(table, stretched_positions(93, 0.25))
    assert (fine[1:] - fine[:-1]).abs().max() < (table[1:] - table[:-1]).abs().max() / 3
    with pytest.raises(ValueError, match="outside"):
        interpolated_rows(table, torch.tensor([23.5]))


def test_a_module_at_the_trained_spacing_is_the_module_as_trained():
    module = random_motion_modules(V2, SD15_CHANNELS, seed=3).block("down_blocks.0.motion_modules.0")
    x = torch.randn(2 * 16, module.channels, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(module(x, 16, stretched_positions(16, 1.0)), module(x, 16))
        stretched = module(x, 16, stretched_positions(16, 0.5))
    assert not torch.allclose(stretched, module(x, 16))


def test_the_plan_lets_windows_grow_with_a_stretch_and_refuses_one_below_the_trained_length():
    v1 = random_motion_modules(V1, SD15_CHANNELS)
    with pytest.raises(ParameterError, match="pe_stretch"):
        plan_job(AnimateDiffParams(video_length=48, frames_per_window=32).window_request(), v1)  # v1 takes 24 without a stretch: the message says how
    plan = plan_job(AnimateDiffParams(video_length=48, frames_per_window=32, pe_stretch=32).window_request(), v1)
    assert plan.context == 32 and plan.pe_spacing == pytest.approx(16 / 32)
    assert (plan.context - 1) * plan.pe_spacing < 24  # every position lies in v1's table
    with pytest.raises(ParameterError, match="'pe_stretch' 12 would squeeze windows below the 16 frames"):
        plan_job(AnimateDiffParams(pe_stretch=12).window_request(), v1)
    with pytest.raises(ParameterError, match="at most 40 frames"):
        plan_job(AnimateDiffParams(video_length=64, frames_per_window=48, pe_stretch=40).window_request(), v1)
    assert plan_job(AnimateDiffParams(pe_stretch=8).window_request(), random_motion_modules(HOTSHOTXL, (32, 64, 96))).pe_spacing == 1.0
    assert plan_job(AnimateDiffParams().window_request(), random_motion_modules(V2, SD15_CHANNELS)).pe_spacing is None
