"""First/last-frame latent mixing for img2img."""

from __future__ import annotations

import itertools

import pytest
import torch

from lib_animatediff.latent_mix import frame_mix_weights, mix_start_latents
from lib_animatediff.params import ParameterError

GRID = list(itertools.product((1, 2, 3, 8, 16, 33), (0.5, 1.0, 2.0, 8.0), (4.0, 32.0), (0.5, 1.0, 3.0), (2.0, 16.0)))


@pytest.mark.parametrize("frames, power, scale, power_last, scale_last", GRID)
def test_weights_with_a_last_frame(frames, power, scale, power_last, scale_last):
    w_first, w_last = frame_mix_weights(frames, power, scale, power_last, scale_last, has_last=True)
    assert w_first.shape == w_last.shape == (frames,)
    assert w_first[0] == 1 and w_last[0] == 0
    if frames > 1:
        assert w_last[-1] == 1 and w_first[-1] == 0
    assert (w_first >= 0).all() and (w_last >= 0).all()
    assert (w_first + w_last <= 1 + 1e-6).all()
    assert (w_first[1:] <= w_first[:-1] + 1e-7).all()
    assert (w_last[1:] >= w_last[:-1] - 1e-7).all()


@pytest.mark.parametrize("frames, power, scale", [(f, p, s) for f, p, s, _, _ in GRID])
def test_weights_without_a_last_frame(frames, power, scale):
    w_first, w_last = frame_mix_weights(frames, power, scale, has_last=False)
    assert torch.equal(w_last, torch.zeros(frames))
    expected = (1 - (torch.arange(frames, dtype=torch.float64) / scale) ** power).clamp(min=0).float()
    assert torch.allclose(w_first, expected)
    assert w_first[0] == 1


def test_default_knobs():
    w_first, _ = frame_mix_weights(16)
    assert w_first[8].item() == pytest.approx(1 - 8 / 32)
    w_first, _ = frame_mix_weights(40, 1.0, 32.0)
    assert (w_first[32:] == 0).all() and w_first[31] > 0


def test_larger_scale_decays_more_slowly():
    slow, _ = frame_mix_weights(16, 1.0, 64.0)
    fast, _ = frame_mix_weights(16, 1.0, 8.0)
    assert (slow[1:] > fast[1:]).all()


def test_larger_power_holds_the_image_longer_then_drops():
    steep, _ = frame_mix_weights(16, 4.0, 8.0)
    straight, _ = frame_mix_weights(16, 1.0, 8.0)
    assert (steep[1:8] > straight[1:8]).all()
    assert steep[7] - steep[8] > straight[7] - straight[8]


def test_last_frame_knobs_shape_only_the_last_weights():
    base_first, base_last = frame_mix_weights(16, 1.0, 8.0, 1.0, 8.0, has_last=True)
    _, wide_last = frame_mix_weights(16, 1.0, 8.0, 1.0, 32.0, has_last=True)
    assert (wide_last[1:-1] >= base_last[1:-1]).all() and (wide_last[1:-1] > base_last[1:-1]).any()
    # Far from the end, where the last image does not reach, the first image's weight is its own.
    assert torch.allclose(base_first[:8], (1 - torch.arange(8) / 8.0).clamp(min=0))


def test_symmetric_knobs_give_mirrored_weights():
    w_first, w_last = frame_mix_weights(17, 2.0, 12.0, 2.0, 12.0, has_last=True)
    assert torch.allclose(w_first, w_last.flip(0))


def test_one_frame_video_is_the_first_image():
    assert frame_mix_weights(1, has_last=True) == (torch.ones(1), torch.zeros(1))


def test_huge_powers_still_split_the_video():
    w_first, w_last = frame_mix_weights(16, 2000.0, 32.0, 2000.0, 32.0, has_last=True)
    assert torch.isfinite(w_first).all() and torch.isfinite(w_last).all()
    assert (w_first + w_last <= 1 + 1e-6).all()
    assert w_first[0] == 1 and w_last[-1] == 1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"power": 0.0}, "latent_power"),
        ({"scale": -1.0}, "latent_scale"),
        ({"power_last": 0.0, "has_last": True}, "latent_power_last"),
        ({"scale_last": float("inf"), "has_last": True}, "latent_scale_last"),
    ],
)
def test_bad_knobs_name_the_argument(kwargs, name):
    with pytest.raises(ParameterError, match=f"'{name}'"):
        frame_mix_weights(16, **kwargs)


def test_mix_start_latents():
    frames = 5
    first, last, noise = torch.randn(4, 8, 8), torch.randn(4, 8, 8), torch.randn(frames, 4, 8, 8)
    w_first, w_last = frame_mix_weights(frames, 1.0, 4.0, 1.0, 4.0, has_last=True)
    mixed = mix_start_latents(first, last, noise, w_first, w_last)
    assert mixed.shape == noise.shape
    assert torch.allclose(mixed[0], first) and torch.allclose(mixed[-1], last)
    for f in range(frames):
        expected = w_first[f] * first + w_last[f] * last + (1 - w_first[f] - w_last[f]) * noise[f]
        assert torch.allclose(mixed[f], expected, atol=1e-6)


def test_mix_without_a_last_frame_and_in_half_precision():
    first, noise = torch.randn(4, 8, 8).half(), torch.randn(3, 4, 8, 8).half()
    w_first, w_last = torch.tensor([1.0, 0.5, 0.0]), torch.zeros(3)
    mixed = mix_start_latents(first, None, noise, w_first, w_last)
    assert mixed.dtype == torch.float16
    assert torch.equal(mixed[0], first) and torch.equal(mixed[2], noise[2])
    assert torch.allclose(mixed[1].float(), (first.float() + noise[1].float()) / 2, atol=1e-2)
    with pytest.raises(ValueError, match="no last-frame latent"):
        mix_start_latents(first, None, noise, w_first, torch.tensor([0.0, 0.1, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        mix_start_latents(torch.randn(4, 4, 4), None, noise, w_first, w_last)
