"""What one animation job will do, worked out from its parameters and motion module."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParameterError
from ..model.motion_module import MotionModuleSet
from ..params import AnimateDiffParams
from .context import ContextSchedule


@dataclass(frozen=True)
class JobPlan:
    frames: int
    context: int  # frames per window actually used: at most the video's length
    schedule: ContextSchedule


def plan_job(params: AnimateDiffParams, modules: MotionModuleSet) -> JobPlan:
    """Frames, context size and window schedule; 0 frames means one context window.

    A context larger than the module's positional encoding cannot be honoured and is refused
    (naming the most the module takes), as is an overlap that leaves windows no step.
    """
    context = params.batch_size or modules.family.default_context
    if context > modules.pe_len:
        raise ParameterError(
            f"AnimateDiff argument 'batch_size' (context batch size) {context} is more than {modules.name} supports: "
            f"at most {modules.pe_len} frames per window"
        )
    if params.overlap >= context:
        raise ParameterError(f"AnimateDiff argument 'overlap' {params.overlap} must be smaller than the context batch size {context}")
    frames = params.video_length or context
    schedule = ContextSchedule(context=context, stride=params.stride, overlap=params.overlap, closed_loop=params.closed_loop_mode)
    return JobPlan(frames=frames, context=min(context, frames), schedule=schedule)
