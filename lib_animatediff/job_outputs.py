"""From a job's decoded frames to the animation that is saved."""

from __future__ import annotations

from typing import Sequence

from PIL import Image

from .context import ClosedLoop
from .interpolation import FrameInterpolator, interpolate, interpolated_fps
from .job import JobPlan
from .params import AnimateDiffParams
from .writers import ping_pong


def frames_to_save(
    frames: Sequence[Image.Image], params: AnimateDiffParams, plan: JobPlan, film: FrameInterpolator | None = None
) -> tuple[list[Image.Image], float]:
    """The frames and frame rate of the saved animation.

    Closed loop A on a video of one context window plays forward then back, as users of that
    mode expect. Interp X inserts frames and multiplies the frame rate by X, so the
    animation keeps its duration; FILM is used when given, else the built-in interpolator.
    """
    frames = list(frames)
    looped = params.closed_loop_mode is ClosedLoop.AGGRESSIVE and plan.frames <= plan.context
    if looped:
        frames = ping_pong(frames)
    fps = float(params.fps)
    if params.interp != "Off" and params.interp_x > 1:
        frames = interpolate(frames, params.interp_x, loop=params.closed_loop_mode.wraps, interpolator=film)
        fps = interpolated_fps(fps, params.interp_x)
    return frames, fps
