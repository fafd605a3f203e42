"""Context windows: properties over a grid of schedules, hand-worked layouts, and fusion."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from lib_animatediff.fusion import WindowAccumulator, window_weights
from lib_animatediff.sampling.context import ClosedLoop, ContextSchedule, context_windows, van_der_corput, window_shift

FRAMES = (1, 5, 8, 16, 17, 24, 31, 32, 64, 100)
CONTEXTS = (4, 8, 16)
STRIDES = (1, 2, 3)  # levels of dilation: 1; 1, 2; 1, 2, 4
OVERLAPS = (-1, 0, 2, 3)
# 16 steps reach every shift of every hop in the grid (hop <= 16).
STEPS = range(16)
WRAPPING = [ClosedLoop.REDUCED, ClosedLoop.REDUCED_PROMPT, ClosedLoop.AGGRESSIVE]


@functools.cache
def layouts(mode: ClosedLoop) -> list[tuple[ContextSchedule, int, list[list[list[int]]]]]:
    """(schedule, frames, windows of each step) for every schedule and frame count of the grid."""
    cases = []
    for context in CONTEXTS:
        for stride in STRIDES:
            for overlap in OVERLAPS:
                schedule = ContextSchedule(context, stride, overlap, mode)
                for frames in FRAMES:
                    cases.append((schedule, frames, [schedule.windows(frames, step) for step in STEPS]))
    return cases


def spacing(window: list[int], frames: int) -> set[int]:
    """The distances, around the loop, from each frame of a window to the next."""
    return {(b - a) % frames for a, b in zip(window, window[1:])}


def dilation(window: list[int], frames: int) -> int:
    """The step from a window's first frame to its second (even spacing is tested separately)."""
    return (window[1] - window[0]) % frames if len(window) > 1 else 1


def wraps(window: list[int]) -> bool:
    return window != sorted(window)


def level_one(windows: list[list[int]], frames: int) -> list[list[int]]:
    return [w for w in windows if dilation(w, frames) == 1]


@pytest.mark.parametrize("mode", list(ClosedLoop))
def test_contiguous_windows_alone_cover_every_frame_every_step(mode):
    for schedule, frames, steps in layouts(mode):
        for step, windows in enumerate(steps):
            covered = {i for w in level_one(windows, frames) for i in w}
            assert covered == set(range(frames)), (schedule, frames, step)


@pytest.mark.parametrize("mode", list(ClosedLoop))
def test_windows_hold_context_distinct_frames_and_are_not_repeated(mode):
    for schedule, frames, steps in layouts(mode):
        for step, windows in enumerate(steps):
            where = (schedule, frames, step)
            assert len({tuple(w) for w in windows}) == len(windows), where
            for w in windows:
                assert len(w) == min(schedule.context, frames), where
                assert len(set(w)) == len(w), where
                assert all(0 <= i < frames for i in w), where


@pytest.mark.parametrize("mode", list(ClosedLoop))
def test_windows_are_evenly_dilated_and_wrap_only_in_closed_loops(mode):
    wrapped_contiguous = wrapped_dilated = False
    for schedule, frames, steps in layouts(mode):
        for step, windows in enumerate(steps):
            where = (schedule, frames, step)
            for w in windows:
                d = dilation(w, frames)
                assert spacing(w, frames) <= {d}, where
                assert d <= 2 ** (schedule.stride - 1) and d & (d - 1) == 0, where
                if mode is ClosedLoop.NONE or (mode is not ClosedLoop.AGGRESSIVE and d > 1):
                    assert not wraps(w), where
                wrapped_contiguous |= d == 1 and wraps(w)
                wrapped_dilated |= d > 1 and wraps(w)
    assert wrapped_contiguous == mode.wraps
    assert wrapped_dilated == (mode is ClosedLoop.AGGRESSIVE)


def test_dilated_levels_appear_only_up_to_stride_and_within_the_video():
    for mode in ClosedLoop:
        for schedule, frames, steps in layouts(mode):
            dilations = {dilation(w, frames) for windows in steps for w in windows}
            expected = {d for d in (1, 2, 4) if d <= 2 ** (schedule.stride - 1) and (schedule.context - 1) * d < frames}
            assert dilations == (expected if frames > schedule.context else {1}), (schedule, frames)


def test_reduced_loops_use_the_fewest_windows_and_aggressive_adds_at_most_the_seam():
    for reduced, prompt, aggressive in zip(*(layouts(m) for m in WRAPPING)):
        schedule, frames, steps = reduced
        assert steps == prompt[2]
        for step, windows in enumerate(steps):
            where = (schedule, frames, step)
            contiguous = level_one(windows, frames)
            assert len(contiguous) <= math.ceil(frames / schedule.hop), where
            extra = [w for w in level_one(aggressive[2][step], frames) if w not in contiguous]
            assert len(extra) <= 1, where


def test_aggressive_puts_the_seam_inside_a_window_every_step():
    added = 0
    for schedule, frames, steps in layouts(ClosedLoop.AGGRESSIVE):
        if frames <= schedule.context:
            continue
        for step, windows in enumerate(steps):
            seams = [w for w in windows if any(a == frames - 1 and b == 0 for a, b in zip(w, w[1:]))]
            assert seams, (schedule, frames, step)
            added += not any(w in seams for w in context_windows(frames, step, schedule.context, closed_loop=ClosedLoop.REDUCED))
    assert added  # some steps needed the extra window


@pytest.mark.parametrize("mode", list(ClosedLoop))
def test_seams_move_from_step_to_step(mode):
    checked = spread = 0
    for schedule, frames, steps in layouts(mode):
        hop, room = schedule.hop, frames - schedule.context
        # Without a loop, windows have only `room + 1` places; the shift must fit in there.
        if room <= 0 or hop < 2 or (mode is ClosedLoop.NONE and room <= hop // 2):
            continue
        starts = [frozenset(w[0] for w in level_one(windows, frames)) for windows in steps]
        assert starts[0] != starts[1], (schedule, frames)
        checked += 1
        if hop >= 3 and (mode.wraps or room >= hop):
            assert len(set(starts[:8])) >= 3, (schedule, frames)
            spread += 1
    assert checked > 100 and spread > 50


def test_shift_follows_the_van_der_corput_sequence():
    assert [van_der_corput(n) for n in range(8)] == [0, 1 / 2, 1 / 4, 3 / 4, 1 / 8, 5 / 8, 3 / 8, 7 / 8]
    assert [window_shift(step, 12) for step in range(8)] == [0, 6, 3, 9, 1, 7, 4, 10]
    assert {window_shift(step, 1) for step in range(8)} == {0}


def test_short_videos_are_one_window():
    for mode in ClosedLoop:
        for frames in (1, 7, 16):
            for step in (0, 1, 5):
                assert context_windows(frames, step, 16, stride=3, closed_loop=mode) == [list(range(frames))]


def test_one_frame_windows_are_each_frame_once():
    # Every dilation level yields the same one-frame windows; each must appear only once.
    for mode in ClosedLoop:
        for step in range(4):
            assert context_windows(5, step, 1, stride=3, closed_loop=mode) == [[0], [1], [2], [3], [4]]


def test_hand_worked_layouts():
    span = lambda a, b: list(range(a, b))  # noqa: E731
    none = ContextSchedule(16)  # overlap 4, hop 12
    assert none.windows(24, 0) == [span(0, 16), span(8, 24)]
    assert none.windows(24, 1) == [span(0, 16), span(6, 22), span(8, 24)]  # grid -6, 6, 18 moved inside

    reduced = ContextSchedule(16, closed_loop=ClosedLoop.REDUCED)
    assert reduced.windows(24, 0) == [span(0, 16), span(12, 24) + span(0, 4)]
    assert reduced.windows(24, 1) == [span(6, 22), span(18, 24) + span(0, 10)]

    aggressive = ContextSchedule(16, overlap=0, closed_loop=ClosedLoop.AGGRESSIVE)
    assert aggressive.windows(32, 0) == [span(0, 16), span(16, 32), span(24, 32) + span(0, 8)]
    assert aggressive.windows(32, 1) == [span(8, 24), span(24, 32) + span(0, 8)]

    dilated = ContextSchedule(4, stride=2, overlap=0)
    assert dilated.windows(16, 0) == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15],
        [0, 2, 4, 6], [8, 10, 12, 14], [1, 3, 5, 7], [9, 11, 13, 15],
    ]  # fmt: skip


def test_stride_counts_dilation_levels_as_sd_webui_animatediff_does():
    """stride s gives dilations 1, 2, ..., 2^(s-1) (each while its windows fit the video)."""
    dilations = lambda stride, frames: sorted({dilation(w, frames) for w in context_windows(frames, 0, 4, stride, 0)})  # noqa: E731
    assert dilations(1, 64) == [1]
    assert dilations(2, 64) == [1, 2]
    assert dilations(3, 64) == [1, 2, 4]
    assert dilations(4, 64) == [1, 2, 4, 8]
    assert dilations(3, 8) == [1, 2]  # dilation 4 would span 13 frames of 8
    assert dilations(1000, 64) == [1, 2, 4, 8, 16]  # a large stride stops where windows no longer fit
    with pytest.raises(ValueError, match="stride"):
        context_windows(64, 0, 4, stride=0)


def test_schedule_is_pure_and_matches_the_function():
    schedule = ContextSchedule(8, stride=3, overlap=2, closed_loop=ClosedLoop.AGGRESSIVE)
    assert schedule.windows(31, 5) == schedule.windows(31, 5) == context_windows(31, 5, 8, 3, 2, ClosedLoop.AGGRESSIVE)
    assert ContextSchedule(8, closed_loop="R+P").closed_loop is ClosedLoop.REDUCED_PROMPT
    assert ContextSchedule(16).hop == 12 and ContextSchedule(16, overlap=0).hop == 16


def test_closed_loop_modes():
    assert [m.wraps for m in ClosedLoop] == [False, True, True, True]
    assert [m.loops_prompts for m in ClosedLoop] == [False, False, True, True]
    assert [m.value for m in ClosedLoop] == ["N", "R-P", "R+P", "A"]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(context=0), "context"),
        (dict(context=16, stride=1.5), "stride"),
        (dict(context=16, stride=0), "stride"),
        (dict(context=16, overlap=-2), "overlap"),
        (dict(context=16, overlap=16), "overlap"),
        (dict(context=16, closed_loop="X"), "closed_loop"),
        (dict(context=16.0), "context"),
    ],
)
def test_invalid_schedules_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ContextSchedule(**kwargs)


def test_invalid_frames_and_steps_name_the_argument():
    with pytest.raises(ValueError, match="frames"):
        context_windows(0, 0, 16)
    with pytest.raises(ValueError, match="step"):
        context_windows(16, -1, 16)
    with pytest.raises(ValueError, match="stride"):
        context_windows(32, 0, 16, stride=-1)


def fuse_windows(frames, outputs, kind="flat"):
    accumulator = WindowAccumulator(frames, kind)
    for window, value in outputs:
        accumulator.add(window, value)
    return accumulator.result()


def test_window_weights():
    assert window_weights(4).tolist() == [1, 1, 1, 1]
    assert window_weights(4, "pyramid").tolist() == [1, 2, 2, 1]
    assert window_weights(5, "pyramid").tolist() == [1, 2, 3, 2, 1]
    assert window_weights(1, "pyramid").tolist() == [1]
    for length in range(1, 20):
        for kind in ("flat", "pyramid"):
            weights = window_weights(length, kind)
            assert weights.dtype == torch.float32 and weights.shape == (length,)
            assert (weights > 0).all() and torch.equal(weights, weights.flip(0))
    with pytest.raises(ValueError, match="pyramid"):
        window_weights(4, "gaussian")
    with pytest.raises(ValueError, match="length"):
        window_weights(0)


def _model(windows: list[list[int]], frame_values: torch.Tensor) -> list[tuple[list[int], torch.Tensor]]:
    return [(w, frame_values[w]) for w in windows]


@pytest.mark.parametrize("kind", ["flat", "pyramid"])
def test_values_every_window_agrees_on_fuse_back_unchanged(kind):
    frame_values = torch.randn(31, 4, 2, 3)
    for mode in ClosedLoop:
        for step in range(3):
            windows = context_windows(31, step, 8, stride=4, overlap=2, closed_loop=mode)
            fused = fuse_windows(31, _model(windows, frame_values), kind)
            torch.testing.assert_close(fused, frame_values)


def test_overlapping_windows_average_with_pyramid_weights():
    a, b = torch.zeros(4, 2), torch.full((4, 2), 3.0)
    fused = fuse_windows(6, [([0, 1, 2, 3], a), ([2, 3, 4, 5], b)], "pyramid")
    # Frame 2 is position 2 (weight 2) of the first window, position 0 (weight 1) of the second.
    expected = torch.tensor([0, 0, (2 * 0 + 1 * 3) / 3, (1 * 0 + 2 * 3) / 3, 3, 3]).unsqueeze(1).expand(6, 2)
    torch.testing.assert_close(fused, expected)
    flat = fuse_windows(6, [([0, 1, 2, 3], a), ([2, 3, 4, 5], b)])
    assert flat[2:4].eq(1.5).all()


def test_uncovered_frames_are_named():
    with pytest.raises(ValueError, match=r"frame\(s\) 2-3, 7 of 8"):
        fuse_windows(8, [([0, 1], torch.ones(2)), ([4, 5, 6], torch.ones(3))])
    accumulator = WindowAccumulator(3)
    with pytest.raises(ValueError, match="0-2"):
        accumulator.result()
    accumulator.add([0, 2], torch.ones(2, 5))
    with pytest.raises(ValueError, match=r"frame\(s\) 1 of 3"):
        accumulator.result()


def test_mismatched_window_values_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        fuse_windows(4, [([0, 1], torch.ones(3, 2))])
    with pytest.raises(ValueError, match="outside"):
        fuse_windows(4, [([3, 4], torch.ones(2, 2))])
    accumulator = WindowAccumulator(4)
    accumulator.add([0, 1], torch.ones(2, 2))
    with pytest.raises(ValueError, match="shape"):
        accumulator.add([2, 3], torch.ones(2, 3))


@pytest.mark.parametrize("kind", ["flat", "pyramid"])
def test_accumulator_equals_fuse_windows(kind):
    schedule = ContextSchedule(8, stride=2, overlap=3, closed_loop=ClosedLoop.AGGRESSIVE)
    outputs = [(w, torch.randn(len(w), 4, 3, 3)) for w in schedule.windows(40, 3)]
    accumulator = WindowAccumulator(40, kind)
    for window, value in outputs:
        accumulator.add(window, value)
    torch.testing.assert_close(accumulator.result(), fuse_windows(40, outputs, kind))


def test_half_precision_values_are_summed_in_float32():
    # 60000 is a float16 value, but twice it is not: float16 sums would overflow to inf.
    value = torch.full((2, 3), 60000.0, dtype=torch.float16)
    accumulator = WindowAccumulator(3)
    accumulator.add([0, 1], value)
    accumulator.add([1, 2], value)
    result = accumulator.result()
    assert result.dtype == torch.float16
    assert torch.equal(result, torch.full((3, 3), 60000.0, dtype=torch.float16))
    fused = fuse_windows(3, [([0, 1], value), ([1, 2], value)], "pyramid")
    assert fused.dtype == torch.float16 and torch.equal(fused, result)


@pytest.mark.parametrize("frames", [5, 16, 17, 31, 64])
def test_static_windows_are_step_zeros_at_every_step_and_cover_every_frame(frames):
    static = ContextSchedule(8, stride=2, overlap=2, kind="static")
    for step in range(6):
        windows = static.windows(frames, step)
        assert windows == ContextSchedule(8, stride=2, overlap=2).windows(frames, 0)
        assert {i for w in windows for i in w} == set(range(frames))


@pytest.mark.parametrize("frames, context", [(10, 4), (16, 8), (17, 8), (3, 8), (1, 1)])
def test_batched_windows_do_not_overlap_and_cover_every_frame_at_every_step(frames, context):
    batched = ContextSchedule(context, kind="batched")
    for step in range(4):
        windows = batched.windows(frames, step)
        assert [i for w in windows for i in w] == list(range(frames))  # each frame once, in order
        assert all(len(w) == context for w in windows[:-1]) and 1 <= len(windows[-1]) <= context
    assert ContextSchedule(4, kind="batched").windows(10, 3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize("settings", [dict(overlap=2), dict(stride=2), dict(closed_loop="R-P")])
def test_a_batched_schedule_refuses_what_it_cannot_do(settings):
    with pytest.raises(ValueError, match="batched"):
        ContextSchedule(8, kind="batched", **settings)
    with pytest.raises(ValueError, match="kind"):
        ContextSchedule(8, kind="sliding")


def test_views_lay_the_uniform_windows():
    assert ContextSchedule(8, kind="views").windows(24, 3) == ContextSchedule(8).windows(24, 3)
