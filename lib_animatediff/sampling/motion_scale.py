"""How strongly the motion modules act: their residual output scaled per frame and per step.

A motion module adds a temporal residual to its input, ``y = x + Δ``; with a motion scale ``s``
its output is ``x + s · Δ`` (0: the module does nothing, 1: as trained, more: exaggerated).
``s`` may differ from frame to frame, written as keys::

    0.6                       every frame
    0-7: 1.0, 8-15: 0.6       frames 0 to 7 at 1.0, 8 to 15 at 0.6, linear between 7 and 8
    0: 0, 15: 1               rising from 0 at frame 0 to 1 at frame 15

Between keys the scale is interpolated linearly; before the first key and after the last it
is held. The modules may also act only in part of sampling: from ``start`` to ``end``, as
fractions of the steps; outside that part they do nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from ..errors import ParameterError

_ENTRY = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?:\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*")
EXAMPLE = "'0.8', or frame keys such as '0-7: 1.0, 8-15: 0.6'"


@dataclass(frozen=True)
class MotionScale:
    """``keys``: (first frame, last frame, scale), sorted; ``start``/``end``: the part of sampling
    (fractions of the steps) in which the modules act."""

    keys: tuple[tuple[int, int, float], ...] = ((0, 0, 1.0),)
    start: float = 0.0
    end: float = 1.0

    @property
    def is_one(self) -> bool:
        """The modules act as trained, everywhere, at every step."""
        return all(scale == 1.0 for _, _, scale in self.keys) and self.start <= 0 and self.end >= 1

    @property
    def is_off(self) -> bool:
        """The modules never act: the job needs none of them."""
        return all(scale == 0.0 for _, _, scale in self.keys) or self.start >= self.end

    def acts_at(self, step: int, steps: int) -> bool:
        """Whether the modules act at ``step`` of ``steps``: ``start <= step / steps < end``."""
        fraction = step / steps if steps else 0.0
        return self.start <= fraction < self.end or (self.end >= 1 and fraction >= 1)

    def per_frame(self, frames: int) -> torch.Tensor:
        """The scale of every frame, float32 of shape ``(frames,)``."""
        points = sorted({(frame, scale) for first, last, scale in self.keys for frame in (first, last)})
        scales = []
        for frame in range(frames):
            before = [point for point in points if point[0] <= frame]
            after = [point for point in points if point[0] >= frame]
            if not before:  # before the first key: held
                scales.append(after[0][1])
                continue
            if not after:  # after the last key: held
                scales.append(before[-1][1])
                continue
            (f0, v0), (f1, v1) = before[-1], after[0]
            scales.append(v0 if f1 == f0 else v0 + (frame - f0) / (f1 - f0) * (v1 - v0))
        return torch.tensor(scales, dtype=torch.float32)

    def check_frames(self, frames: int) -> None:
        """Keys must lie in the video."""
        last = max(last for _, last, _ in self.keys)
        if last >= frames:
            raise ParameterError(f"AnimateDiff argument 'motion_scale' has a key at frame {last}, past the video's last frame {frames - 1}")


def parse_motion_scale(text: str, start: float = 0.0, end: float = 1.0) -> MotionScale:
    """A :class:`MotionScale` from ``text`` (see the module docstring); a ParameterError naming
    ``motion_scale`` when it does not parse."""
    text = str(text).strip()
    try:
        return MotionScale(((0, 0, float(text)),), start, end)
    except ValueError:
        pass
    keys: list[tuple[int, int, float]] = []
    for entry in text.split(","):
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise ParameterError(
                f"AnimateDiff argument 'motion_scale' {text!r}: {entry.strip()!r} is not 'frame: scale' or 'first-last: scale'; "
                f"write {EXAMPLE}"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ParameterError(f"AnimateDiff argument 'motion_scale' {text!r}: the range {first}-{last} ends before it starts")
        keys.append((first, last, float(match.group(3))))
    keys.sort()
    for (a_first, a_last, _), (b_first, _, _) in zip(keys, keys[1:]):
        if b_first <= a_last:
            raise ParameterError(f"AnimateDiff argument 'motion_scale' {text!r}: frame {b_first} is given twice")
    return MotionScale(tuple(keys), start, end)


def parses(text: str) -> bool:
    try:
        parse_motion_scale(text)
    except ParameterError:
        return False
    return True
