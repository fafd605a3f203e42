"""First/last-frame latent mixing for img2img."""

from __future__ import annotations

import itertools

import pytest
import torch

from lib_animatediff.errors import ParameterError
from lib_animatediff.sampling.latent_mix import frame_mix_weights, mix_start_latents

GRID = list(itertools.product((1, 2, 3, 8, 16, 33), (0.5, 1.0, 2.0, 8.0), (4.0, 32.0), (0.5, 1.0, 3.0), (2.0, 16.0)))


def swa_curve(frames, power, scale, power_last, scale_last, has_last):
    """sd-webui-animatediff's weights, written out plainly: ``1 - i^power / scale`` clamped at 0;
    with a last frame the mirrored weights, both rescaled where they sum past 1, ends pinned."""
    first = [max(0.0, 1 - i**power / scale) for i in range(frames)]
    if not has_last:
        return first, [0.0] * frames
    last = [max(0.0, 1 - (frames - 1 - i) ** power_last / scale_last) for i in range(frames)]
    for i in range(frames):
        total = first[i] + last[i]
        if total > 1:
            first[i], last[i] = first[i] / total, last[i] / total
    first[0], last[0] = 1.0, 0.0
    first[-1], last[-1] = 0.0, 1.0
    return first, last


@pytest.mark.parametrize("frames, power, scale, power_last, scale_last", GRID)
@pytest.mark.parametrize("has_last", [False, True])
def test_weights_are_sd_webui_animatediffs(frames, power, scale, power_last, scale_last, has_last):
    w_first, w_last = frame_mix_weights(frames, power, scale, power_last, scale_last, has_last=has_last)
    expected_first, expected_last = swa_curve(frames, power, scale, power_last, scale_last, has_last)
    assert w_first.dtype == w_last.dtype == torch.float32 and w_first.shape == w_last.shape == (frames,)
    assert torch.allclose(w_first, torch.tensor(expected_first), atol=1e-6)
    assert torch.allclose(w_last, torch.tensor(expected_last), atol=1e-6)
    assert (w_first >= 0).all() and (w_last >= 0).all() and (w_first + w_last <= 1 + 1e-6).all()


def test_hand_worked_values():
    w_first, _ = frame_mix_weights(16)  # defaults: 1 - i / 32
    assert w_first[8].item() == pytest.approx(0.75)
    w_first, _ = frame_mix_weights(16, 2.0, 32.0)  # 1 - i^2 / 32: frame 4 is half the image
    assert w_first[4].item() == pytest.approx(0.5) and w_first[6].item() == 0
    w_first, _ = frame_mix_weights(40, 1.0, 32.0)
    assert (w_first[32:] == 0).all() and w_first[31] > 0
    # 8 frames, each end 1 - d/4: the two fades never meet, the middle frames are noise
    w_first, w_last = frame_mix_weights(8, 1.0, 4.0, 1.0, 4.0, has_last=True)
    assert w_first.tolist() == pytest.approx([1, 0.75, 0.5, 0.25, 0, 0, 0, 0])
    assert w_last.tolist() == pytest.approx([0, 0, 0, 0, 0.25, 0.5, 0.75, 1])
    # a + b <= 1 is kept (a = b = 1/3, a third of noise); above 1 they are rescaled (3/4 + 3/4 → 1/2 + 1/2)
    w_first, w_last = frame_mix_weights(3, 1.0, 1.5, 1.0, 1.5, has_last=True)
    assert (w_first[1].item(), w_last[1].item()) == pytest.approx((1 / 3, 1 / 3))
    w_first, w_last = frame_mix_weights(3, 1.0, 4.0, 1.0, 4.0, has_last=True)
    assert (w_first[1].item(), w_last[1].item()) == pytest.approx((0.5, 0.5))
    w_first, w_last = frame_mix_weights(3, 1.0, 0.5, 1.0, 0.5, has_last=True)
    assert (w_first[1].item(), w_last[1].item()) == (0.0, 0.0)


def test_larger_scale_decays_more_slowly_and_larger_power_holds_then_drops():
    slow, _ = frame_mix_weights(16, 1.0, 64.0)
    fast, _ = frame_mix_weights(16, 1.0, 8.0)
    assert (slow[1:] > fast[1:]).all()
    steep, _ = frame_mix_weights(16, 2.0, 64.0)  # reaches 0 at frame 8, as the straight line does
    straight, _ = frame_mix_weights(16, 1.0, 8.0)
    assert (steep[1:8] > straight[1:8]).all() and steep[8] == straight[8] == 0


def test_symmetric_knobs_give_mirrored_weights():
    w_first, w_last = frame_mix_weights(17, 2.0, 12.0, 2.0, 12.0, has_last=True)
    assert torch.allclose(w_first, w_last.flip(0))


def test_ends_are_pinned_and_a_one_frame_video_is_the_last_image():
    w_first, w_last = frame_mix_weights(16, 1.0, 1000.0, 1.0, 1000.0, has_last=True)
    assert (w_first[0], w_last[0], w_first[-1], w_last[-1]) == (1, 0, 0, 1)
    assert frame_mix_weights(1, has_last=True) == (torch.zeros(1), torch.ones(1))
    assert frame_mix_weights(1) == (torch.ones(1), torch.zeros(1))


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
