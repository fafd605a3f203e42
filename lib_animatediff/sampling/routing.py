"""Every model call of a job's sampling through the video runner, one step at a time.

A1111's CFG denoiser tells its callbacks, before each step, the rows it is about to run (the
latents, noise levels, image and text conditioning) and, after the model calls, their
outputs. :class:`ModelCallRouting` uses the first to tell the runner the step, to give each
frame its travelled prompt conditioning and to put the rows into whole videos; the second to
put the outputs back in A1111's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .progress import SamplingProgress
from .prompt_travel import travel_rows
from .video_runner import VideoModelRunner, restore_frame_major, take_rows, video_major_order


@dataclass(frozen=True)
class Travel:
    """The keyframes of a travelling prompt and negative prompt (None: not travelling)."""

    prompt_keys: Sequence[int] | None = None
    negative_keys: Sequence[int] | None = None
    loop: bool = False
    method: str = "slerp"


class ModelCallRouting:
    """The CFG denoiser callbacks of one job's sampling (duck-typed on A1111's
    ``CFGDenoiserParams``: ``x``, ``sigma``, ``image_cond``, ``text_cond``, ``text_uncond``,
    ``denoiser.step``, ``sampling_step``, ``total_sampling_steps``; and ``CFGDenoisedParams.x``).

    ``reorder_rows``: the sampler's rows are A1111's (every frame's AND sub-prompts together),
    put into whole videos before each step and back after it; Forge's model calls hold whole
    videos already, and its callbacks see one row per frame."""

    def __init__(self, runner: VideoModelRunner, progress: SamplingProgress, travel: Travel = Travel(), reorder_rows: bool = True) -> None:
        self.runner = runner
        self.progress = progress
        self.travel = travel
        self.reorder_rows = reorder_rows
        self.conds_per_frame = 1

    def before_step(self, params: Any) -> None:
        frames = self.runner.frames
        text_cond = params.text_cond
        cond_rows = (text_cond["crossattn"] if isinstance(text_cond, dict) else text_cond).shape[0]
        self.runner.step = params.denoiser.step if params.denoiser is not None else params.sampling_step
        self.runner.rows_this_step = 0
        self.conds_per_frame = max(1, cond_rows // frames)
        self.progress.total_steps = params.total_sampling_steps
        travel = self.travel
        if travel.prompt_keys is not None:
            params.text_cond = travel_rows(params.text_cond, frames, self.conds_per_frame, travel.prompt_keys, travel.loop, travel.method)
        if travel.negative_keys is not None:
            params.text_uncond = travel_rows(params.text_uncond, frames, 1, travel.negative_keys, travel.loop, travel.method)
        if self.reorder_rows and self.conds_per_frame > 1:  # AND sub-prompts: whole videos, however A1111 splits the rows
            rows = params.x.shape[0]
            order = torch.cat([video_major_order(frames, self.conds_per_frame), torch.arange(cond_rows, rows)])
            params.x = params.x[order.to(params.x.device)]
            params.sigma = take_rows(params.sigma, order, rows)
            params.image_cond = take_rows(params.image_cond, order, rows)
            params.text_cond = take_rows(params.text_cond, order[:cond_rows], cond_rows)

    def after_step(self, params: Any) -> None:
        if self.reorder_rows and self.conds_per_frame > 1:
            skipped = self.runner.rows_this_step == self.conds_per_frame * self.runner.frames
            restore_frame_major(params.x, self.runner.frames, self.conds_per_frame, uncond_skipped=skipped)
