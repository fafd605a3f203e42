"""What sd-webui-controlnet (v1.1.455) imports from an AnimateDiff extension, by module name.

ControlNet reaches AnimateDiff through three modules it imports as ``scripts.<name>``; the
files of those names in ``scripts/`` re-export what is here:

- ``scripts.animatediff_mm``: ``MotionModuleType.SparseCtrl`` and
  ``MotionWrapper(name, hash, MotionModuleType.SparseCtrl)``, the motion modules of a
  SparseCtrl model, loaded strictly from the file's ``down_blocks.*.motion_modules.*`` keys;
  ControlNet appends them to its input blocks and calls them as plain layers, so each asks the
  running AnimateDiff job how many frames the call carries (and refuses outside a job).
- ``scripts.animatediff_utils``: ``get_animatediff_arg(p)``, the job's settings as ControlNet
  reads them (``enable``, ``video_length``, ``batch_size`` = frames per context window,
  ``closed_loop``, and a ``prompt_scheduler`` whose ``prompt_map`` names keyframes and whose
  ``multi_cond(cond, closed_loop)`` interpolates per-frame rows between them, as prompt travel
  does), or None when AnimateDiff is off for ``p``.
- ``scripts.animatediff_i2ibatch``: ``animatediff_i2i_batch(p, input, output_dir,
  inpaint_mask_dir, args, …)``, the img2img Batch tab's run as one animation (``i2i_batch.py``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import AnimateDiffError
from ..model.sparsectrl import SparseCtrlMotionModules
from ..sampling.prompt_travel import travel_rows
from .i2i_batch import requested_params
from .job import JOB_ATTRIBUTE
from .state import WEBUI


class MotionModuleType(enum.Enum):
    """The kinds of motion-module set ControlNet asks for: only SparseCtrl's."""

    SparseCtrl = "SparseCtrl"


def frames_now() -> int:
    """Frames per video of the model call now running, from the AnimateDiff job."""
    frames = WEBUI.video
    if frames is None or frames.count is None:
        raise AnimateDiffError(
            "a SparseCtrl ControlNet runs only in an AnimateDiff job: its motion modules need the video's frames; enable AnimateDiff"
        )
    return frames.count


class MotionWrapper(SparseCtrlMotionModules):
    """ControlNet's way of building SparseCtrl's motion modules: ``MotionWrapper("", "", MotionModuleType.SparseCtrl)``."""

    def __init__(self, name: str, hash: str, kind: MotionModuleType) -> None:  # noqa: A002 - ControlNet's positional order
        if kind is not MotionModuleType.SparseCtrl:
            raise ValueError(f"MotionWrapper builds SparseCtrl's motion modules only, not {kind}; AnimateDiff loads motion modules itself")
        super().__init__(frames_now)


@dataclass
class KeyframeScheduler:
    """Per-frame rows interpolated between keyframes (ControlNet's IP-Adapter keyframes)."""

    prompt_map: dict[int, str] | None = None  # keyframe index → (unused) text; ControlNet sets it
    method: str = "slerp"

    def multi_cond(self, cond: torch.Tensor, closed_loop: bool = False) -> torch.Tensor:
        """``cond`` (frames, …) with each frame's row taken from its keyframes, interpolated
        between the nearest ones (around the loop's seam when ``closed_loop``)."""
        if not self.prompt_map:
            return cond
        frames = cond.shape[0]
        keys = sorted({int(key) for key in self.prompt_map})
        if keys[0] < 0 or keys[-1] >= frames:
            raise AnimateDiffError(f"keyframes {keys} must lie within the {frames} frames")
        return travel_rows(cond, frames, 1, keys, loop=closed_loop, method=self.method)


@dataclass
class AnimateDiffArg:
    """An AnimateDiff job's settings, under the names ControlNet reads."""

    enable: bool
    video_length: int
    batch_size: int  # frames per context window
    closed_loop: str
    prompt_scheduler: KeyframeScheduler = field(default_factory=KeyframeScheduler)
    is_i2i_batch: bool = False  # ControlNet sets it before the img2img batch tab's call


def get_animatediff_arg(p: Any) -> AnimateDiffArg | None:
    """The AnimateDiff job of ``p`` (its final frames and context); before the job starts (the
    img2img Batch tab asks then), what ``p``'s AnimateDiff arguments ask for. None when
    AnimateDiff is off for ``p`` or ``p`` has no AnimateDiff arguments (another extension's)."""
    job = getattr(p, JOB_ATTRIBUTE, None)
    if job is not None:
        params, frames, context = job.params, job.plan.frames, job.plan.context
    else:
        params = requested_params(p)
        if params is None or not params.enable:
            return None
        frames, context = params.video_length, params.frames_per_window
    return AnimateDiffArg(
        enable=True, video_length=frames, batch_size=context, closed_loop=params.closed_loop,
        prompt_scheduler=KeyframeScheduler(method=params.travel_interp),
    )  # fmt: skip
