"""What one animation job will do: its frames and windows, worked out from what was asked
and the motion module that will run."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParameterError
from ..model.motion_module import MotionModuleSet
from .context import ClosedLoop, ContextSchedule, ScheduleConflict


@dataclass(frozen=True)
class WindowRequest:
    """The frames and windows a job asks for. The refusals below name the API's arguments
    (``batch_size`` for ``frames_per_window``, ``stride`` for ``dilation_levels``:
    sd-webui-animatediff's names), which is what a user can change."""

    frames: int = 0  # 0: one window
    frames_per_window: int = 0  # 0: the module's trained length
    overlap: int = -1  # -1: a quarter of the window
    dilation_levels: int = 1
    closed_loop: ClosedLoop = ClosedLoop.NONE
    schedule: str = "uniform"
    pe_stretch: int = 0  # positions the windows are spread over (0: as trained)


@dataclass(frozen=True)
class JobPlan:
    frames: int
    context: int  # frames per window actually used: at most the video's length
    schedule: ContextSchedule
    pe_spacing: float | None = None  # positional-encoding stretch: positions per frame (None: 1, as trained)

    @property
    def one_window(self) -> bool:
        return self.frames <= self.context

    @property
    def calls_hold_every_frame(self) -> bool:
        """Whether every model call holds all the frames of its videos: one window, or a schedule
        under which the UNet sees every frame (only the motion modules' attention is windowed)."""
        return self.one_window or self.schedule.model_sees_all(self.frames)


def plan_job(request: WindowRequest, modules: MotionModuleSet) -> JobPlan:
    """Frames, context size and window schedule; 0 frames means one context window.

    A context larger than the module's positional encoding cannot be honoured and is refused
    (naming the most the module takes) unless ``pe_stretch`` lays longer windows over the
    trained positions; an overlap that leaves windows no step is refused too.
    """
    context = request.frames_per_window or modules.family.default_context
    trained, stretch = modules.family.trained_frames, request.pe_stretch
    if stretch and stretch < trained:
        raise ParameterError(
            f"AnimateDiff argument 'pe_stretch' {stretch} would squeeze windows below the {trained} frames "
            f"{modules.family.title} was trained on: use 0 (off) or at least {trained}"
        )
    longest = stretch or modules.pe_len
    if context > longest:
        way_out = "" if stretch else "; a positional-encoding stretch (pe_stretch) lets windows grow"
        raise ParameterError(
            f"AnimateDiff argument 'batch_size' (context batch size) {context} is more than {modules.name} supports: "
            f"at most {longest} frames per window{way_out}"
        )
    if request.overlap >= context:
        raise ParameterError(f"AnimateDiff argument 'overlap' {request.overlap} must be smaller than the context batch size {context}")
    frames = request.frames or context
    try:
        schedule = ContextSchedule(context, request.dilation_levels, request.overlap, request.closed_loop, request.schedule)
    except ScheduleConflict as conflict:
        raise ParameterError(f"AnimateDiff argument 'context_schedule' {conflict}") from None
    spacing = trained / stretch if stretch else None
    return JobPlan(frames=frames, context=min(context, frames), schedule=schedule, pe_spacing=spacing)
