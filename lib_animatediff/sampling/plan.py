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
    pe_spacing: float | None = None  # positional-encoding stretch: positions per frame (None: 1, as trained)


def plan_job(params: AnimateDiffParams, modules: MotionModuleSet) -> JobPlan:
    """Frames, context size and window schedule; 0 frames means one context window.

    A context larger than the module's positional encoding cannot be honoured and is refused
    (naming the most the module takes) unless ``pe_stretch`` lays longer windows over the
    trained positions; an overlap that leaves windows no step is refused too.
    """
    context = params.batch_size or modules.family.default_context
    trained = modules.family.trained_frames
    if params.pe_stretch and params.pe_stretch < trained:
        raise ParameterError(
            f"AnimateDiff argument 'pe_stretch' {params.pe_stretch} would squeeze windows below the {trained} frames "
            f"{modules.family.title} was trained on: use 0 (off) or at least {trained}"
        )
    longest = params.pe_stretch or modules.pe_len
    if context > longest:
        stretch = "" if params.pe_stretch else "; a positional-encoding stretch (pe_stretch) lets windows grow"
        raise ParameterError(
            f"AnimateDiff argument 'batch_size' (context batch size) {context} is more than {modules.name} supports: "
            f"at most {longest} frames per window{stretch}"
        )
    if params.overlap >= context:
        raise ParameterError(f"AnimateDiff argument 'overlap' {params.overlap} must be smaller than the context batch size {context}")
    frames = params.video_length or context
    if params.context_schedule == "batched" and (params.overlap > 0 or params.stride > 1 or params.closed_loop_mode.wraps):
        raise ParameterError(
            "AnimateDiff argument 'context_schedule' 'batched' lays windows that neither overlap, nor dilate, nor wrap: "
            f"set overlap 0 or -1 (now {params.overlap}), stride 1 (now {params.stride}) and closed_loop N (now {params.closed_loop})"
        )
    schedule = ContextSchedule(context, params.stride, params.overlap, params.closed_loop_mode, params.context_schedule)
    spacing = trained / params.pe_stretch if params.pe_stretch else None
    return JobPlan(frames=frames, context=min(context, frames), schedule=schedule, pe_spacing=spacing)
