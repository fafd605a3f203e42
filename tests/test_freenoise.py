"""FreeNoise's noise rescheduling, against the paper's definition."""

from __future__ import annotations

import pytest
import torch

from lib_animatediff.sampling.freenoise import freenoise, freenoise_order


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("frames, window, hop", [(64, 16, 12), (40, 16, 16), (33, 8, 6), (16, 16, 12), (10, 16, 4), (25, 4, 1)])
def test_later_stretches_are_shuffles_of_the_frames_one_window_earlier(frames, window, hop):
    order = freenoise_order(frames, window, hop, generator())
    assert order[:window] == list(range(min(window, frames)))  # the first window keeps its own noise
    assert all(0 <= source < window for source in order)  # every frame's noise is a first-window frame's
    for start in range(window, frames, hop):
        stretch = order[start : start + hop]
        assert sorted(stretch) == sorted(order[start - window : start - window + len(stretch)]), start  # stays in its stretch


def test_any_window_holds_the_first_windows_noise_without_repeats():
    window, hop = 16, 12
    order = freenoise_order(64, window, hop, generator(3))
    for first in range(0, 64 - window + 1, hop):
        assert len(set(order[first : first + window])) == window


def test_reproducible_with_the_seed_and_shuffled():
    assert freenoise_order(64, 16, 12, generator(5)) == freenoise_order(64, 16, 12, generator(5))
    assert freenoise_order(64, 16, 12, generator(5)) != freenoise_order(64, 16, 12, generator(6))
    assert freenoise_order(64, 16, 12, generator(5))[16:] != list(range(4, 16)) * 4 + list(range(4, 8))  # not a mere repeat
    noise = torch.randn(40, 4, 8, 8)
    rescheduled = freenoise(noise, 16, 12, seed=1)
    order = freenoise_order(40, 16, 12, generator(1))
    assert all(torch.equal(rescheduled[f], noise[order[f]]) for f in range(40))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="hop"):
        freenoise_order(16, 8, 0, generator())
