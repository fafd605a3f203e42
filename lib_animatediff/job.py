"""What one animation job will do, worked out from its parameters and motion module."""

from __future__ import annotations

from dataclasses import dataclass

from .context import ContextSchedule
from .errors import AnimateDiffError
from .log import logger
from .motion_module import MotionModuleSet
from .params import AnimateDiffParams


@dataclass(frozen=True)
class JobPlan:
    frames: int
    context: int
    schedule: ContextSchedule
    warnings: tuple[str, ...] = ()


def plan_job(params: AnimateDiffParams, modules: MotionModuleSet) -> JobPlan:
    """Frames, context size and window schedule; 0 frames means one context window."""
    warnings = []
    family = modules.family
    context = params.batch_size or family.default_context
    if context > modules.pe_len:
        warnings.append(
            f"context batch size {context} is more than {modules.name} supports ({modules.pe_len} frames); using {modules.pe_len}"
        )
        context = modules.pe_len
    frames = params.video_length or context
    overlap = params.overlap
    if overlap >= context:
        raise AnimateDiffError(f"overlap {overlap} must be smaller than the context batch size {context}")
    schedule = ContextSchedule(context=context, stride=params.stride, overlap=overlap, closed_loop=params.closed_loop_mode)
    for warning in warnings:
        logger.warning(warning)
    return JobPlan(frames=frames, context=min(context, frames), schedule=schedule, warnings=tuple(warnings))
