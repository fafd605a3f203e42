"""Running a denoising model over whole videos, one context window at a time.

A1111 hands the model one batch of rows per call: for each frame, one row per prompt (AND
sub-prompts interleaved, frame-major) and then one unconditional row per frame, or parts
of that. Motion modules need every frame of a video in the same call, video-major. The
``VideoModelRunner`` regroups the rows of each call into videos, runs every context window
of frames for all videos, and fuses the windows back, so the result does not depend on how
A1111 batched cond and uncond.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

import torch

from .context import ContextSchedule, WindowAccumulator
from .errors import AnimateDiffError
from .injection import MotionModuleInjection

ModelCall = Callable[..., torch.Tensor]


def video_rows(rows: int, frames: int, conds_per_frame: int = 1) -> list[torch.Tensor]:
    """The row indices of each video in a call of ``rows`` rows, every video in frame order.

    Rows are laid out as A1111's CFG denoiser builds them: ``conds_per_frame`` interleaved
    conditional rows per frame (row f·n + j is frame f of prompt j), then one video of
    unconditional rows. A call may hold all of them, the conditional rows alone (uncond
    skipped or run separately), or only whole frame-major videos.
    """
    if frames < 1 or rows % frames:
        raise AnimateDiffError(f"the model was called with {rows} rows, not a whole number of {frames}-frame videos")
    n = conds_per_frame
    frame_index = torch.arange(frames)
    if n > 1 and rows in (n * frames, (n + 1) * frames):
        videos = [frame_index * n + j for j in range(n)]
        if rows == (n + 1) * frames:
            videos.append(n * frames + frame_index)
        return videos
    if n > 1 and rows != frames:
        raise AnimateDiffError(
            f"the model was called with {rows} rows for {frames} frames × {n} AND prompts, which splits videos; "
            "enable Settings → Optimizations → 'Pad prompt/negative prompt to be same length'"
        )
    return [v * frames + frame_index for v in range(rows // frames)]


def take_rows(value: Any, index: torch.Tensor, rows: int) -> Any:
    """``value`` with every tensor of ``rows`` rows (also inside dicts and lists) indexed by ``index``."""
    if isinstance(value, torch.Tensor):
        return value[index.to(value.device)] if value.dim() > 0 and value.shape[0] == rows else value
    if isinstance(value, dict):
        return {key: take_rows(item, index, rows) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(take_rows(item, index, rows) for item in value)
    return value


@dataclass
class VideoModelRunner:
    """Calls a model (``apply_model``-like: ``model(x, t, cond, ...)``) window by window.

    ``videos_per_call`` limits how many videos share one model call (None: all of them);
    ``on_window(step, window, windows)`` runs before each window, so the WebUI can show
    progress and stop at an interrupt by raising. ``around_call(index)`` wraps each model
    call made of rows ``index`` of the sampler's call (ControlNet narrows its hints there).
    """

    injection: MotionModuleInjection
    schedule: ContextSchedule
    frames: int
    videos_per_call: int | None = None
    fuse: str = "flat"
    on_window: Callable[[int, int, int], None] | None = None
    around_call: Callable[[torch.Tensor], ContextManager[None]] | None = None
    # what the sampler says about the coming calls; updated before every step
    step: int = 0
    conds_per_frame: int = 1
    calls: int = field(default=0, init=False)

    def __call__(self, model: ModelCall, x: torch.Tensor, t: torch.Tensor, cond: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        rows = x.shape[0]
        videos = video_rows(rows, self.frames, self.conds_per_frame)
        windows = self.schedule.windows(self.frames, self.step)
        per_call = self.videos_per_call or len(videos)
        fused = [WindowAccumulator(self.frames, self.fuse) for _ in videos]
        for number, window in enumerate(windows):
            if self.on_window is not None:
                self.on_window(self.step, number, len(windows))
            for first in range(0, len(videos), per_call):
                group = range(first, min(first + per_call, len(videos)))
                index = torch.cat([videos[v][window] for v in group])
                around = self.around_call(index) if self.around_call is not None else contextlib.nullcontext()
                with around, self.injection.video(len(window)):
                    out = model(x[index.to(x.device)], take_rows(t, index, rows), take_rows(cond, index, rows), *args, **kwargs)
                self.calls += 1
                for v, part in zip(group, out.split(len(window))):
                    fused[v].add(window, part)
        result = torch.empty_like(x)
        for rows_of_video, accumulator in zip(videos, fused):
            result[rows_of_video.to(x.device)] = accumulator.result().to(result.dtype)
        return result

