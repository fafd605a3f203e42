"""Running a denoising model over whole videos, one context window at a time.

A1111 hands the model one batch of rows per call: for each frame, one row per prompt (AND
sub-prompts interleaved, frame-major) and then one unconditional row per frame, or parts
of that. Motion modules need every frame of a video in the same call. Before every step the
rows are put in video-major order (:func:`video_major_order`), so each call holds whole
videos; the ``VideoModelRunner`` runs every context window of frames for all videos of a call
and fuses the windows back, so the result does not depend on how A1111 batched cond and
uncond.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Protocol

import torch

from ..errors import AnimateDiffError
from ..fusion import FusedWindows, WindowAccumulator
from .context import ContextSchedule

ModelCall = Callable[..., torch.Tensor]


def video_rows(rows: int, frames: int) -> list[torch.Tensor]:
    """The row indices of each video in a call of ``rows`` rows: whole videos of ``frames``
    rows, one after another (the sampler's rows are put in that order before every step by
    :func:`video_major_order`)."""
    if frames < 1 or rows % frames:
        raise AnimateDiffError(f"the model was called with {rows} rows, not a whole number of {frames}-frame videos")
    frame_index = torch.arange(frames)
    return [v * frames + frame_index for v in range(rows // frames)]


def video_major_order(frames: int, conds_per_frame: int) -> torch.Tensor:
    """The order that makes whole videos of A1111's conditional rows.

    A1111's CFG denoiser lays out ``frames × n`` conditional rows frame-major, the ``n`` AND
    sub-prompts of each frame interleaved (row ``f·n + j`` is frame ``f`` of sub-prompt ``j``),
    then one unconditional video, and may split the conditional rows between model calls at
    any multiple of ``2·frames`` rows (when prompt and negative prompt differ in length and
    are not padded). ``rows[order]`` puts sub-prompt ``j``'s video at rows ``j·F .. j·F + F - 1``,
    so every such call holds whole videos; ``argsort(order)`` puts them back.
    """
    n = conds_per_frame
    return (torch.arange(n).view(-1, 1) + torch.arange(frames).view(1, -1) * n).flatten()


def restore_frame_major(x_out: torch.Tensor, frames: int, conds_per_frame: int, uncond_skipped: bool) -> None:
    """In place: a step's model outputs, computed on rows in :func:`video_major_order`, back in
    A1111's frame-major order.

    Where the step skipped the unconditional rows (NGMS, skip early CFG), A1111 has already
    filled them with copies of each frame's first sub-prompt output, picked by frame-major row
    numbers from the video-major rows; they are copied again from the right rows.
    """
    n = conds_per_frame
    cond_rows = n * frames
    restored = torch.empty_like(x_out[:cond_rows])
    restored[video_major_order(frames, n).to(x_out.device)] = x_out[:cond_rows]
    x_out[:cond_rows] = restored
    if uncond_skipped:
        x_out[cond_rows : cond_rows + frames] = restored[::n]


def take_rows(value: Any, index: torch.Tensor, rows: int) -> Any:
    """``value`` with every tensor of ``rows`` rows (also inside dicts and lists) indexed by ``index``."""
    if isinstance(value, torch.Tensor):
        return value[index.to(value.device)] if value.dim() > 0 and value.shape[0] == rows else value
    if isinstance(value, dict):
        # the same mapping type: A1111 reads ``.shape`` off its dict subclass (DictWithShape)
        return type(value)({key: take_rows(item, index, rows) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(take_rows(item, index, rows) for item in value)
    return value


class MotionModuleVideo(Protocol):
    """Where the runner tells the motion modules the video of the coming call (a
    ``VideoInCall``, or the ``MotionModuleInjection`` holding one)."""

    def video(self, frames: int, scale: torch.Tensor | None = None, windows: FusedWindows | None = None) -> ContextManager[None]: ...


@dataclass
class VideoModelRunner:
    """Calls a model (``apply_model``-like: ``model(x, t, cond, ...)``) window by window.

    ``videos_per_call`` limits how many videos share one model call (None: all of them);
    ``on_window(step, number, windows, frames)`` runs before each window (``frames``: its frame
    indices), so the WebUI can show progress and the window's frames, and stop at an interrupt
    by raising. ``around_call(index, device)`` wraps each model
    call made of rows ``index`` of the sampler's call, run on ``device`` (ControlNet narrows its hints there);
    ``frame_scale(step, window)`` how strongly the motion modules act on the window's frames.
    """

    motion_modules: MotionModuleVideo
    schedule: ContextSchedule
    frames: int
    videos_per_call: int | None = None
    fuse: str = "flat"
    on_window: Callable[[int, int, int, list[int]], None] | None = None
    around_call: Callable[[torch.Tensor, torch.device], ContextManager[None]] | None = None
    # (step, window) → how strongly the motion modules act on each frame of the window (None: as trained)
    frame_scale: Callable[[int, list[int]], torch.Tensor | None] | None = None
    # what the sampler says about the coming calls; updated before every step
    step: int = 0
    calls: int = field(default=0, init=False)
    rows_this_step: int = field(default=0, init=False)

    def rows_per_model_call(self, rows: int) -> int:
        """The most rows one model call holds when the sampler calls with ``rows`` rows: a window's
        frames (every frame under the views schedule) of each video run together. What a memory
        estimate of the UNet's calls must count, not the sampler's ``rows``."""
        if self.frames < 1 or rows % self.frames:
            return rows
        videos = rows // self.frames
        return min(self.videos_per_call or videos, videos) * max(len(window) for window in self._model_windows())

    def _model_windows(self) -> list[list[int]]:
        """The frames of each model call this step: every frame under the views schedule (the
        motion modules still attend in windows), else each context window."""
        if self.schedule.model_sees_all(self.frames):
            return [list(range(self.frames))]
        return self.schedule.windows(self.frames, self.step)

    def __call__(self, model: ModelCall, x: torch.Tensor, t: torch.Tensor, cond: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        rows = x.shape[0]
        videos = video_rows(rows, self.frames)
        self.rows_this_step += rows
        views = self.schedule.model_sees_all(self.frames)  # the motion modules still attend in windows
        motion_windows = FusedWindows(self.schedule.windows(self.frames, self.step), self.fuse) if views else None
        windows = self._model_windows()
        per_call = self.videos_per_call or len(videos)
        fused = [WindowAccumulator(self.frames, self.fuse) for _ in videos]
        for number, window in enumerate(windows):
            if self.on_window is not None:
                self.on_window(self.step, number, len(windows), window)
            for first in range(0, len(videos), per_call):
                group = range(first, min(first + per_call, len(videos)))
                index = torch.cat([videos[v][window] for v in group])
                around = self.around_call(index, x.device) if self.around_call is not None else contextlib.nullcontext()
                scale = self.frame_scale(self.step, window) if self.frame_scale is not None else None
                with around, self.motion_modules.video(len(window), scale, motion_windows):
                    out = model(x[index.to(x.device)], take_rows(t, index, rows), take_rows(cond, index, rows), *args, **kwargs)
                self.calls += 1
                for v, part in zip(group, out.split(len(window))):
                    fused[v].add(window, part)
        result = torch.empty_like(x)
        for rows_of_video, accumulator in zip(videos, fused):
            result[rows_of_video.to(x.device)] = accumulator.result().to(result.dtype)
        return result
