"""Frames, context and schedule of a job."""

from __future__ import annotations

import pytest

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.errors import AnimateDiffError, ParameterError
from lib_animatediff.model.families import HOTSHOTXL, SDXL, V1, V2
from lib_animatediff.sampling.plan import plan_job
from lib_animatediff.webui.params import AnimateDiffParams


def _modules(family):
    return random_motion_modules(family, (32, 64, 64, 64) if family.levels == 4 else (32, 64, 96))


@pytest.mark.parametrize("family, context", [(V2, 16), (V1, 16), (SDXL, 16), (HOTSHOTXL, 8)], ids=lambda v: getattr(v, "name", v))
def test_default_context_and_zero_frames_mean_one_window(family, context):
    plan = plan_job(AnimateDiffParams(enable=True, video_length=0, frames_per_window=0).window_request(), _modules(family))
    assert plan.context == context and plan.frames == context
    assert plan.schedule.windows(plan.frames, 0) == [list(range(context))]


def test_fewer_frames_than_context_is_one_short_window():
    plan = plan_job(AnimateDiffParams(enable=True, video_length=5).window_request(), _modules(V2))
    assert plan.frames == 5 and plan.context == 5
    assert plan.schedule.windows(5, 3) == [list(range(5))]


def test_context_beyond_positional_encoding_is_refused_naming_the_limit():
    with pytest.raises(ParameterError, match=r"'batch_size'.* 32 .*at most 24 frames"):
        plan_job(AnimateDiffParams(enable=True, video_length=48, frames_per_window=32).window_request(), _modules(V1))
    assert plan_job(AnimateDiffParams(enable=True, video_length=48, frames_per_window=24).window_request(), _modules(V1)).context == 24


def test_more_frames_than_positional_encoding_run_in_windows():
    plan = plan_job(AnimateDiffParams(enable=True, video_length=100, frames_per_window=16).window_request(), _modules(V1))
    windows = plan.schedule.windows(100, 0)
    assert plan.frames == 100 and len(windows) > 1 and max(len(w) for w in windows) == 16


def test_overlap_not_below_context_is_refused():
    with pytest.raises(AnimateDiffError, match="overlap"):
        plan_job(AnimateDiffParams(enable=True, video_length=32, frames_per_window=8, overlap=8).window_request(), _modules(V2))
