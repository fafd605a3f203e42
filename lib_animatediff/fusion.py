"""Fusing what overlapping windows of frames give each frame: a weighted average per frame, as
MultiDiffusion (Bar-Tal et al. 2023) fuses overlapping crops of an image. Used where the UNet
runs in windows (``sampling.video_runner``) and where only the motion modules attend in
windows (``model.injection``, the "views" schedule)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

FUSION_KINDS = ("flat", "pyramid")


@dataclass(frozen=True)
class FusedWindows:
    """Windows of frame indices and how their outputs are blended where they overlap."""

    windows: list[list[int]]
    kind: str = "flat"


def window_weights(length: int, kind: str = "flat") -> torch.Tensor:
    """Weights of the positions of a window when overlapping windows are fused.

    ``flat``: all ones, a plain average. ``pyramid``: 1, 2, ... rising to the centre and falling
    again (length 4 → 1 2 2 1, length 5 → 1 2 3 2 1), so a frame takes most from the windows in
    which it lies far from the edges, and a window's influence fades out towards its seams.
    """
    _check_length("length", length)
    if kind == "flat":
        return torch.ones(length, dtype=torch.float32)
    if kind == "pyramid":
        position = torch.arange(length)
        return torch.minimum(position + 1, length - position).to(torch.float32)
    raise ValueError(f"kind must be one of {', '.join(map(repr, FUSION_KINDS))}, got {kind!r}")


class WindowAccumulator:
    """Fuses the outputs of overlapping windows into one value per frame, one window at a time.

    Each output is a window and its value, ``(len(window), ...)``; :meth:`result` is, for every
    frame, the average of the values the windows gave it, weighted by :func:`window_weights`
    ``(len(window), kind)`` at the frame's position in each window. Only the running weighted
    sums are held, not the outputs.

    The sums are allocated by the first :meth:`add`, with its value's trailing shape and device,
    in float32 (or float64 for float64 values); :meth:`result` is in the first value's dtype.
    """

    def __init__(self, frames: int, kind: str = "flat") -> None:
        _check_length("frames", frames)
        window_weights(1, kind)
        self.frames = frames
        self.kind = kind
        self._sums: torch.Tensor | None = None
        self._totals: torch.Tensor | None = None
        self._dtype: torch.dtype | None = None

    def add(self, window: list[int], value: torch.Tensor) -> None:
        if self._sums is None:
            dtype = _accumulation_dtype(value.dtype)
            self._sums = value.new_zeros((self.frames, *value.shape[1:]), dtype=dtype)
            self._totals = value.new_zeros(self.frames, dtype=dtype)
            self._dtype = value.dtype
        index, weighted, weights = _weighted(self.frames, window, value, self.kind, self._sums.dtype, self._sums)
        self._sums.index_add_(0, index, weighted)
        self._totals.index_add_(0, index, weights)

    def result(self) -> torch.Tensor:
        if self._sums is None:
            raise ValueError(_uncovered_message(list(range(self.frames)), self.frames))
        return _average(self._sums, self._totals, self._dtype)


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    # Half-precision sums of many windows lose precision and can overflow.
    return torch.promote_types(dtype, torch.float32)


def _weighted(
    frames: int, window: list[int], value: torch.Tensor, kind: str, dtype: torch.dtype, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The frame index, weighted value and weight of each position of one window, checked
    against the frame count and the shape of ``like`` and moved to its device."""
    if len(window) == 0:
        raise ValueError("a window must hold at least one frame")
    if value.ndim == 0 or value.shape[0] != len(window):
        raise ValueError(f"a window of {len(window)} frames needs a value of shape ({len(window)}, ...), got {tuple(value.shape)}")
    if value.shape[1:] != like.shape[1:]:
        raise ValueError(f"window values must all have the shape (frames, {', '.join(map(str, like.shape[1:]))}), got {tuple(value.shape)}")
    outside = [i for i in window if not 0 <= i < frames]
    if outside:
        raise ValueError(f"window frames {outside} are outside 0..{frames - 1}")
    weights = window_weights(len(window), kind).to(like.device, dtype)
    weighted = value.to(like.device, dtype) * weights.view(-1, *[1] * (value.ndim - 1))
    return torch.as_tensor(window, dtype=torch.long, device=like.device), weighted, weights


def _average(sums: torch.Tensor, totals: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    uncovered = (totals == 0).nonzero().flatten().tolist()
    if uncovered:
        raise ValueError(_uncovered_message(uncovered, len(totals)))
    return (sums / totals.view(-1, *[1] * (sums.ndim - 1))).to(dtype)


def _uncovered_message(uncovered: list[int], frames: int) -> str:
    return f"no window covered frame(s) {_ranges(uncovered)} of {frames}"


def _ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` → ``"0-2, 5, 7-8"``."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1][-1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _check_length(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
