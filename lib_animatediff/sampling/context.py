"""Context windows: denoising videos longer than a motion module can attend over at once.

A motion module attends over at most ``context`` frames. A longer video is denoised at every
sampling step in overlapping windows of frame indices, and each window's output is fused into
the frames by a weighted average (``lib_animatediff.fusion``).

The windows of one step (:func:`context_windows`) come in levels:

* level 1: contiguous windows ``hop = context - overlap`` frames apart that together cover
  every frame;
* with ``stride`` = ``s`` > 1, ``s - 1`` dilated levels 2, 4, ..., ``2^(s-1)``: windows holding
  every ``d``-th frame, for motion over a longer range (``stride`` counts the levels, as in
  sd-webui-animatediff: stride 3 gives dilations 1, 2, 4); a level is used only where its
  windows span no more than the video;
* with a closed loop (:class:`ClosedLoop`), windows may run past the last frame back to the
  first, so that the video loops without a jump.

The whole layout shifts from step to step by a fraction of the hop taken from the base-2 van
der Corput sequence, so the seams between windows never stay on the same frames and, over many
steps, fall evenly between them.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class ScheduleKind:
    """How one kind of context schedule lays its windows (see :class:`ContextSchedule`)."""

    name: str
    shifts: bool = True  # the window grid moves from step to step
    plain: bool = False  # consecutive windows that neither overlap, nor dilate, nor wrap
    model_sees_all: bool = False  # the model runs on every frame at once; the windows are the motion modules'


SCHEDULES: dict[str, ScheduleKind] = {
    kind.name: kind
    for kind in (
        ScheduleKind("uniform"),
        ScheduleKind("static", shifts=False),
        ScheduleKind("batched", shifts=False, plain=True),
        ScheduleKind("views", model_sees_all=True),
    )
}
SCHEDULE_KINDS = tuple(SCHEDULES)


class ScheduleConflict(ValueError):
    """Settings the schedule's kind cannot honour; the message names them as the API does."""


class ClosedLoop(enum.Enum):
    """How windows treat the seam between the last frame and the first."""

    NONE = "N"  # the video has two ends; no window wraps
    REDUCED = "R-P"  # wrap where covering the loop needs it; prompt travel not looped
    REDUCED_PROMPT = "R+P"  # the same windows as R-P; prompt travel looped
    AGGRESSIVE = "A"  # wrap at every level, and the seam inside some window every step

    @property
    def wraps(self) -> bool:
        """Whether windows may run past the last frame back to the first."""
        return self is not ClosedLoop.NONE

    @property
    def loops_prompts(self) -> bool:
        """Whether prompt travel also goes from the last prompt back to the first."""
        return self in (ClosedLoop.REDUCED_PROMPT, ClosedLoop.AGGRESSIVE)


@dataclass(frozen=True)
class ContextSchedule:
    """The settings that place the context windows; see :func:`context_windows`.

    ``closed_loop`` may also be given as its value (``"N"``, ``"R-P"``, ``"R+P"``, ``"A"``), as
    API payloads and infotext carry it; it is stored as a :class:`ClosedLoop`. ``kind``:

    * ``uniform``: the windows of :func:`context_windows`, shifted from step to step;
    * ``static``: the same windows at every step (those of step 0);
    * ``batched``: consecutive windows that do not overlap (:func:`batched_windows`), at every
      step; no overlap, no dilated levels and no wrapping apply;
    * ``views``: the ``uniform`` windows, for the motion modules only: the model itself runs on
      every frame at once (the caller's part, see ``VideoModelRunner``).
    """

    context: int
    stride: int = 1
    overlap: int = -1
    closed_loop: ClosedLoop = ClosedLoop.NONE
    kind: str = "uniform"

    def __post_init__(self) -> None:
        object.__setattr__(self, "closed_loop", _closed_loop(self.closed_loop))
        _check_schedule(self.context, self.stride, self.overlap)
        if self.kind not in SCHEDULES:
            raise ValueError(f"kind must be one of {', '.join(map(repr, SCHEDULE_KINDS))}, got {self.kind!r}")
        if self.rules.plain and (self.overlap > 0 or self.stride > 1 or self.closed_loop.wraps):
            raise ScheduleConflict(
                f"{self.kind!r} lays windows that neither overlap, nor dilate, nor wrap: set overlap 0 or -1 (now {self.overlap}), "
                f"stride 1 (now {self.stride}) and closed_loop N (now {self.closed_loop.value})"
            )

    @property
    def rules(self) -> ScheduleKind:
        return SCHEDULES[self.kind]

    @property
    def hop(self) -> int:
        """Frames between the starts of neighbouring windows."""
        return self.context if self.rules.plain else _hop(self.context, self.overlap)

    def windows(self, frames: int, step: int) -> list[list[int]]:
        if self.rules.plain:
            return batched_windows(frames, self.context)
        shift_step = step if self.rules.shifts else 0
        return context_windows(frames, shift_step, self.context, self.stride, self.overlap, self.closed_loop)

    def model_sees_all(self, frames: int) -> bool:
        """Whether the model runs on all ``frames`` at once (the windows then only the motion
        modules'): a video longer than one window under a schedule whose model sees all."""
        return self.rules.model_sees_all and frames > self.context


def batched_windows(frames: int, context: int) -> list[list[int]]:
    """Consecutive windows of ``context`` frames that do not overlap, the last one shorter when
    ``context`` does not divide ``frames``: 10 frames in windows of 4 → 0-3, 4-7, 8-9."""
    _check_int("frames", frames, minimum=1)
    _check_int("context", context, minimum=1)
    return [list(range(start, min(start + context, frames))) for start in range(0, frames, context)]


def context_windows(
    frames: int,
    step: int,
    context: int,
    stride: int = 1,
    overlap: int = -1,
    closed_loop: ClosedLoop | str = ClosedLoop.NONE,
) -> list[list[int]]:
    """The windows of frame indices to denoise at sampling step ``step``.

    A video of at most ``context`` frames is one window. Otherwise every window holds
    ``context`` distinct frames, and the contiguous (level-1) windows alone cover every frame.
    Neighbouring windows of dilation ``d`` start ``hop · d`` frames apart, ``hop = context -
    overlap`` (``overlap = -1``: ``context // 4``), on a grid shifted by
    :func:`window_shift` ``(step, hop) · d``.

    * ``NONE``: windows on the shifted grid that would run past either end are moved inside
      (a duplicate is dropped), so frames 0 and ``frames - 1`` are always covered.
    * ``REDUCED``, ``REDUCED_PROMPT``: level-1 windows are laid around the loop from the shifted
      start until every frame is covered, ``ceil((frames - context) / hop) + 1`` of them, the
      fewest that cover the loop at this hop; dilated levels do not wrap.
    * ``AGGRESSIVE``: as ``REDUCED``, and dilated levels wrap too; if no level-1 window holds
      both the last frame and the first, a window centred on that seam is added.

    Windows come level by level (level 1 first, then the seam window, then dilations 2, 4, ...)
    in the order they are laid; no window appears twice.
    """
    closed_loop = _closed_loop(closed_loop)
    _check_schedule(context, stride, overlap)
    _check_int("frames", frames, minimum=1)
    _check_int("step", step, minimum=0)
    hop = _hop(context, overlap)
    return _windows_at_shift(frames, context, stride, hop, window_shift(step, hop), closed_loop)


def van_der_corput(n: int) -> Fraction:
    """The ``n``-th element of the base-2 van der Corput sequence: the binary digits of ``n``
    mirrored about the binary point (0 → 0, 1 → 1/2, 2 → 1/4, 3 → 3/4, 4 → 1/8, ...).

    Each prefix of the sequence is spread nearly evenly over [0, 1), and consecutive elements
    lie far apart.
    """
    if n == 0:
        return Fraction(0)
    return Fraction(int(format(n, "b")[::-1], 2), 2 ** n.bit_length())


def window_shift(step: int, hop: int) -> int:
    """How far the window grid is shifted at ``step``: ``floor(van_der_corput(step) · hop)``,
    in ``0 .. hop - 1``. Steps 0 and 1 differ whenever ``hop > 1``."""
    return math.floor(van_der_corput(step) * hop)


# Window layout


def _windows_at_shift(frames: int, context: int, stride: int, hop: int, shift: int, closed_loop: ClosedLoop) -> list[list[int]]:
    if frames <= context:
        return [list(range(frames))]
    windows = _level_windows(frames, context, hop, shift, 1, circular=closed_loop.wraps)
    # A window of one frame cannot hold two, so the seam cannot be covered then.
    if closed_loop is ClosedLoop.AGGRESSIVE and context > 1 and not any(_holds_seam(w, frames) for w in windows):
        windows.append(_seam_window(frames, context))
    for dilation in _dilations(frames, context, stride)[1:]:
        windows += _level_windows(frames, context, hop, shift, dilation, circular=closed_loop is ClosedLoop.AGGRESSIVE)
    return _unique(windows)


def _level_windows(frames: int, context: int, hop: int, shift: int, dilation: int, circular: bool) -> list[list[int]]:
    """The level-1 layout laid on every sequence of each ``dilation``-th frame."""
    windows = []
    for sequence in _cycles(frames, dilation) if circular else _strands(frames, dilation):
        length = len(sequence)
        if length < context:
            continue
        if length == context:
            starts = [0]
        elif circular:
            starts = _circular_starts(length, context, hop, shift)
        else:
            starts = _clamped_starts(length, context, hop, shift)
        windows += [[sequence[(start + k) % length] for k in range(context)] for start in starts]
    return windows


def _clamped_starts(length: int, context: int, hop: int, shift: int) -> list[int]:
    """Starts of the windows on the grid ``shift + k · hop`` that reach into ``[0, length)``,
    each moved inside it. The grid covers every position because ``hop <= context``, and moving
    a window inwards keeps the positions it covered inside the sequence."""
    last = length - context
    start = shift - hop if shift else 0
    starts: list[int] = []
    while True:
        clamped = min(max(start, 0), last)
        if not starts or starts[-1] != clamped:
            starts.append(clamped)
        if start + context >= length:
            return starts
        start += hop


def _circular_starts(length: int, context: int, hop: int, shift: int) -> list[int]:
    """Starts of the fewest windows ``hop`` apart, from ``shift`` on, that cover a loop of ``length``."""
    count = -(-(length - context) // hop) + 1
    return [(shift + k * hop) % length for k in range(count)]


def _strands(frames: int, dilation: int) -> list[list[int]]:
    """Each ``dilation``-th frame, from each of the first ``dilation`` frames."""
    return [list(range(first, frames, dilation)) for first in range(dilation)]


def _cycles(frames: int, dilation: int) -> list[list[int]]:
    """The cycles of stepping ``dilation`` frames around the loop (one cycle when coprime)."""
    count = math.gcd(frames, dilation)
    return [[(first + k * dilation) % frames for k in range(frames // count)] for first in range(count)]


def _dilations(frames: int, context: int, stride: int) -> list[int]:
    """The first ``stride`` dilations 1, 2, 4, ..., keeping those whose windows span no more
    than the video (a longer window would hold a frame twice, or wrap the loop more than once)."""
    dilations = []
    for level in range(stride):
        dilation = 2**level
        if dilation >= frames or (context - 1) * dilation >= frames:
            break  # every later level spans further still
        dilations.append(dilation)
    return dilations


def _holds_seam(window: list[int], frames: int) -> bool:
    return any(a == frames - 1 and b == 0 for a, b in zip(window, window[1:]))


def _seam_window(frames: int, context: int) -> list[int]:
    return [(frames - context // 2 + k) % frames for k in range(context)]


def _unique(windows: list[list[int]]) -> list[list[int]]:
    seen: set[tuple[int, ...]] = set()
    unique = []
    for window in windows:
        if tuple(window) not in seen:
            seen.add(tuple(window))
            unique.append(window)
    return unique


def _hop(context: int, overlap: int) -> int:
    return context - (context // 4 if overlap == -1 else overlap)


# Validation


def _check_schedule(context: int, stride: int, overlap: int) -> None:
    _check_int("context", context, minimum=1)
    if not _is_int(stride) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1 (levels of dilation: 3 gives 1, 2, 4), got {stride!r}")
    if not _is_int(overlap) or not -1 <= overlap < context:
        raise ValueError(f"overlap must be -1 (context // 4) or an integer from 0 to context - 1 = {context - 1}, got {overlap!r}")


def _check_int(name: str, value: object, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _closed_loop(value: ClosedLoop | str) -> ClosedLoop:
    try:
        return ClosedLoop(value)
    except (ValueError, TypeError):
        allowed = ", ".join(repr(mode.value) for mode in ClosedLoop)
        raise ValueError(f"closed_loop must be a ClosedLoop or one of {allowed}, got {value!r}") from None
