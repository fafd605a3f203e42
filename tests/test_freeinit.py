"""FreeInit: frequency filters, noise reinitialisation, settings."""

from __future__ import annotations

import itertools

import pytest
import torch

from lib_animatediff.errors import AnimateDiffError, ParameterError
from lib_animatediff.model.noise_schedule import timestep_sigma
from lib_animatediff.sampling.freeinit import (
    FILTER_KINDS,
    FirstNoiseLevel,
    FreeInitSettings,
    PassNoise,
    PassStart,
    frequency_filter,
    next_pass_noise,
    reinitialize,
    run_passes,
)
from lib_animatediff.webui.params import AnimateDiffParams

SHAPES = [(16, 8, 8), (7, 9, 12), (1, 4, 5), (8, 64, 64)]


def centre(shape):
    return tuple(n // 2 for n in shape)


def normalised_distance(shape, d_s, d_t):
    """ρ of every bin, worked out from indices rather than fftfreq."""
    axes = [((torch.arange(n) - n // 2) * 2 / n).double() for n in shape]
    t, h, w = torch.meshgrid(*axes, indexing="ij")
    return ((t / d_t) ** 2 + (h / d_s) ** 2 + (w / d_s) ** 2).sqrt()


@pytest.mark.parametrize("kind", FILTER_KINDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_filters_are_one_at_dc_within_unit_range_and_symmetric(kind, shape):
    mask = frequency_filter(shape, kind, 0.25, 0.4)
    assert mask.shape == shape and mask.dtype == torch.float32
    assert mask[centre(shape)] == 1
    assert (mask >= 0).all() and (mask <= 1).all()
    # Mirrored about the centre: for an even size, index 0 (the Nyquist bin) has no mirror.
    inner = mask[tuple(slice(1 - n % 2, None) for n in shape)]
    assert torch.equal(inner, inner.flip(0, 1, 2))


@pytest.mark.parametrize("kind", ["butterworth", "gaussian", "ideal"])
def test_radial_filters_fall_with_distance(kind):
    shape = (16, 32, 32)
    mask = frequency_filter(shape, kind, 0.3, 0.5).double().flatten()
    rho = normalised_distance(shape, 0.3, 0.5).flatten()
    order = torch.argsort(rho)
    ordered = mask[order]
    assert (ordered[1:] <= ordered[:-1] + 1e-6).all()
    # Equal distance, equal value.
    same = torch.isclose(rho, rho[order[5]])
    assert torch.allclose(mask[same], mask[order[5]])


def test_filter_values_at_the_cutoff():
    rho = normalised_distance((16, 32, 32), 0.25, 0.25)
    on_cutoff = torch.isclose(rho, torch.tensor(1.0, dtype=torch.float64))
    assert on_cutoff.any()
    for kind, value in [("butterworth", 0.5), ("gaussian", float(torch.exp(torch.tensor(-0.5)))), ("ideal", 1.0)]:
        mask = frequency_filter((16, 32, 32), kind, 0.25, 0.25)
        assert torch.allclose(mask[on_cutoff], torch.tensor(value))


def test_butterworth_order_sharpens_the_cutoff():
    rho = normalised_distance((8, 32, 32), 0.25, 0.25)
    soft = frequency_filter((8, 32, 32), "butterworth", 0.25, 0.25, order=1)
    sharp = frequency_filter((8, 32, 32), "butterworth", 0.25, 0.25, order=8)
    inside = (rho > 0) & (rho < 0.9)
    assert (sharp[inside] > soft[inside]).all()
    assert (sharp[rho > 1.1] < soft[rho > 1.1]).all()


def test_ideal_is_a_zero_one_ellipsoid():
    shape = (16, 32, 32)
    mask = frequency_filter(shape, "ideal", 0.25, 0.5)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(mask.bool(), normalised_distance(shape, 0.25, 0.5) <= 1)


def test_box_is_a_cuboid():
    shape = (16, 32, 32)
    mask = frequency_filter(shape, "box", 0.25, 0.5)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    # |ν| <= d on each axis: temporal |i - 8| * 2/16 <= 0.5 → 4 bins each side; spatial 4 bins.
    expected = torch.zeros(shape)
    expected[8 - 4 : 8 + 5, 16 - 4 : 16 + 5, 16 - 4 : 16 + 5] = 1
    assert torch.equal(mask, expected)
    # A box holds its corners, which the ellipsoid of the same cut-offs does not.
    ideal = frequency_filter(shape, "ideal", 0.25, 0.5)
    assert mask[12, 20, 20] == 1 and ideal[12, 20, 20] == 0
    assert (ideal <= mask).all()


def test_wider_cutoffs_pass_more():
    narrow = frequency_filter((16, 32, 32), "gaussian", 0.1, 0.1)
    wide = frequency_filter((16, 32, 32), "gaussian", 0.5, 0.5)
    assert (wide >= narrow).all() and wide.sum() > narrow.sum()
    temporal = frequency_filter((16, 32, 32), "butterworth", 0.25, 1.0)
    assert temporal[0, 16, 16] > frequency_filter((16, 32, 32), "butterworth", 0.25, 0.1)[0, 16, 16]


@pytest.mark.parametrize(
    "args, words",
    [
        (((8, 8, 8), "cosine", 0.25, 0.25), "kind"),
        (((8, 8, 8), "gaussian", 0.0, 0.25), "d_s"),
        (((8, 8, 8), "gaussian", 0.25, -1.0), "d_t"),
        (((8, 8), "gaussian", 0.25, 0.25), "shape"),
        (((8, 0, 8), "gaussian", 0.25, 0.25), "shape"),
    ],
)
def test_filter_rejects_bad_arguments(args, words):
    with pytest.raises(ValueError, match=words):
        frequency_filter(*args)


def test_reinitialize_extremes():
    latents, noise = torch.randn(8, 4, 16, 16), torch.randn(8, 4, 16, 16)
    assert torch.allclose(reinitialize(latents, noise, torch.ones(8, 16, 16)), latents, atol=1e-5)
    assert torch.allclose(reinitialize(latents, noise, torch.zeros(8, 16, 16)), noise, atol=1e-5)


def band_energy(x, mask):
    """Energy of x's spectrum (over frames, height, width, all channels) inside ``mask``."""
    spectrum = torch.fft.fftshift(torch.fft.fftn(x.double(), dim=(0, 2, 3)), dim=(0, 2, 3))
    return (spectrum.abs() ** 2 * mask.unsqueeze(1)).sum()


@pytest.mark.parametrize("kind", ["ideal", "box"])
def test_reinitialize_takes_low_frequencies_from_latents_and_high_from_noise(kind):
    shape = (8, 4, 16, 16)
    latents, noise = torch.randn(shape), torch.randn(shape)
    low = frequency_filter((8, 16, 16), kind, 0.4, 0.5).double()
    high = 1 - low
    mixed = reinitialize(latents, noise, low.float())
    assert mixed.dtype == latents.dtype and mixed.shape == shape
    # Inside the band the result's spectrum is the latents', outside it the noise's.
    assert band_energy(mixed - latents, low) < 1e-6 * band_energy(latents, low)
    assert band_energy(mixed - noise, high) < 1e-6 * band_energy(noise, high)
    assert band_energy(mixed - noise, low) > 0.5 * band_energy(latents, low)
    assert band_energy(mixed - latents, high) > 0.5 * band_energy(noise, high)


def test_reinitialize_with_a_soft_filter_blends_and_stays_real():
    shape = (8, 4, 16, 16)
    # Latents that are pure low frequency (constant), noise that is mostly high frequency.
    latents = torch.full(shape, 3.0)
    noise = torch.randn(shape)
    low = frequency_filter((8, 16, 16), "butterworth", 0.25, 0.25)
    mixed = reinitialize(latents, noise, low)
    assert torch.isfinite(mixed).all()
    # The constant survives (DC weight 1), the noise's DC is dropped.
    assert mixed.mean().item() == pytest.approx(3.0, abs=1e-4)
    # Most of the noise's high-frequency energy is kept.
    assert band_energy(mixed, 1 - low.double()) > 0.9 * band_energy(noise, 1 - low.double())


def test_reinitialize_in_half_precision_and_shape_checks():
    latents, noise = torch.randn(4, 4, 8, 8).half(), torch.randn(4, 4, 8, 8).half()
    mixed = reinitialize(latents, noise, torch.ones(4, 8, 8))
    assert mixed.dtype == torch.float16 and torch.allclose(mixed, latents, atol=1e-2)
    with pytest.raises(ValueError, match="low_pass"):
        reinitialize(latents, noise, torch.ones(4, 8, 9))
    with pytest.raises(ValueError, match="noise"):
        reinitialize(latents, noise[:3], torch.ones(4, 8, 8))


def test_settings_defaults_and_from_params():
    settings = FreeInitSettings()
    assert (settings.enable, settings.filter, settings.d_s, settings.d_t, settings.iterations) == (False, "butterworth", 0.25, 0.25, 3)
    params = AnimateDiffParams(freeinit_enable=True, freeinit_filter="gaussian", freeinit_ds=0.5, freeinit_dt=0.125, freeinit_iters=2)
    assert FreeInitSettings.from_params(params) == FreeInitSettings(True, "gaussian", 0.5, 0.125, 2)
    assert FreeInitSettings.from_params(AnimateDiffParams()) == settings
    low = FreeInitSettings(True, "box", 0.5, 0.5, 2).low_pass((4, 8, 8))
    assert torch.equal(low, frequency_filter((4, 8, 8), "box", 0.5, 0.5))


@pytest.mark.parametrize(
    "values, field",
    [
        ({"freeinit_enable": 1}, "freeinit_enable"),
        ({"freeinit_filter": "cosine"}, "freeinit_filter"),
        ({"freeinit_ds": 0.0}, "freeinit_ds"),
        ({"freeinit_ds": 1.5}, "freeinit_ds"),
        ({"freeinit_dt": "0.25"}, "freeinit_dt"),
        ({"freeinit_iters": 0}, "freeinit_iters"),
        ({"freeinit_iters": 2.5}, "freeinit_iters"),
    ],
)
def test_settings_are_validated_where_they_come_from_naming_the_argument(values, field):
    with pytest.raises(ParameterError, match=repr(field)):
        AnimateDiffParams.from_dict(values)


def test_first_noise_level_is_the_first_calls():
    level = FirstNoiseLevel()
    with pytest.raises(AnimateDiffError, match="never called"):
        level.read()
    level.record(14.6)
    level.record(3.0)  # later calls of the pass do not count
    assert level.read() == pytest.approx(14.6)


def test_a_timesteps_sigma_comes_from_the_schedule():
    assert timestep_sigma(torch.tensor([0.9, 0.5, 0.2]), 2.0) == pytest.approx(2.0)  # sqrt((1 - 0.2) / 0.2)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_next_pass_noise_is_the_samples_diffused_with_the_initial_noise_under_an_all_pass_filter():
    samples, start, initial = torch.randn(8, 4, 6, 6), torch.randn(1, 4, 6, 6), torch.randn(8, 4, 6, 6)
    everything = FreeInitSettings(True, "box", 1.0, 1.0, 2)
    noise = next_pass_noise(samples, start, 5.0, initial, 8, everything, _gen(3))
    torch.testing.assert_close(noise, (samples - start) / 5.0 + initial, atol=1e-5, rtol=1e-5)
    txt2img = next_pass_noise(samples, None, 5.0, initial, 8, everything, _gen(3))
    torch.testing.assert_close(txt2img, samples / 5.0 + initial, atol=1e-5, rtol=1e-5)


def test_next_pass_noise_takes_the_high_frequencies_from_fresh_noise():
    samples, initial = torch.randn(8, 4, 6, 6), torch.randn(8, 4, 6, 6)
    nothing = FreeInitSettings(True, "box", 0.01, 0.01, 2)  # keeps only the zero frequency
    noise = next_pass_noise(samples, None, 2.0, initial, 8, nothing, _gen(3))
    fresh = torch.randn(samples.shape, generator=_gen(3))
    low = (samples / 2.0 + initial).mean(dim=(0, 2, 3), keepdim=True)
    torch.testing.assert_close(noise, fresh - fresh.mean(dim=(0, 2, 3), keepdim=True) + low, atol=1e-5, rtol=1e-5)


def test_next_pass_noise_is_unit_noise_that_keeps_the_low_frequencies_of_the_samples():
    frames, sigma = 16, 2.0
    t = torch.arange(frames).view(-1, 1, 1, 1) / frames
    slow = (4 * sigma * torch.cos(2 * torch.pi * t)).expand(frames, 4, 32, 32).contiguous()  # one slow swing, 4 in noise units
    settings = FreeInitSettings(True, "butterworth", 0.25, 0.25, 3)
    initial = torch.randn(slow.shape, generator=_gen(2))
    noise = next_pass_noise(slow, None, sigma, initial, frames, settings, _gen(1))
    assert noise.shape == slow.shape and noise.dtype == slow.dtype
    per_frame = noise.mean(dim=(1, 2, 3))
    assert per_frame[0] - per_frame[frames // 2] > 7  # the swing (8 from top to bottom) survives the filter
    assert 0.6 < (noise - noise.mean(dim=(1, 2, 3), keepdim=True)).std() < 1.2  # the rest is noise
    plain = next_pass_noise(torch.zeros_like(slow), None, sigma, initial, frames, settings, _gen(1))
    assert abs(plain.mean(dim=(1, 2, 3))[frames // 2] - plain.mean(dim=(1, 2, 3))[0]) < 1.0


def test_next_pass_noise_filters_each_video_on_its_own_and_repeats_with_the_seed():
    settings = FreeInitSettings(True, "gaussian", 0.3, 0.3, 2)
    samples, initial = torch.randn(2 * 6, 4, 8, 8), torch.randn(2 * 6, 4, 8, 8)
    first = next_pass_noise(samples, None, 3.0, initial, 6, settings, _gen(7))
    assert torch.equal(first, next_pass_noise(samples, None, 3.0, initial, 6, settings, _gen(7)))
    changed = samples.clone()
    changed[:6] += 10.0
    second = next_pass_noise(changed, None, 3.0, initial, 6, settings, _gen(7))
    assert torch.equal(second[6:], first[6:]) and not torch.equal(second[:6], first[:6])
    half = next_pass_noise(samples.half(), None, 3.0, initial, 6, settings, _gen(7))
    assert half.dtype == torch.float16


@pytest.mark.parametrize(
    "frames, sigma, initial_rows, words", [(5, 1.0, 12, "whole videos"), (6, 0.0, 12, "sigma"), (6, 1.0, 6, "initial noise")]
)
def test_next_pass_noise_rejects_bad_arguments(frames, sigma, initial_rows, words):
    with pytest.raises(ValueError, match=words):
        next_pass_noise(torch.zeros(12, 4, 4, 4), None, sigma, torch.zeros(initial_rows, 4, 4, 4), frames, FreeInitSettings(True), _gen())


def test_run_passes_renoises_every_pass_with_the_first_pass_initial_noise():
    settings = FreeInitSettings(True, "butterworth", 0.25, 0.25, 3)
    calls, starts = [], []

    def sample_pass(number, noise):
        calls.append((number, None if noise is None else noise.clone()))
        # each pass starts from its own noise: the seed's in pass 1, the handed noise after
        starts.append(PassStart(None, 2.0, torch.randn(8, 4, 6, 6) if noise is None else noise))
        return torch.full((8, 4, 6, 6), float(number + 1))

    result = run_passes(settings, 8, 42, sample_pass, lambda: starts[-1])
    assert [number for number, _ in calls] == [0, 1, 2] and calls[0][1] is None
    assert torch.equal(result, torch.full((8, 4, 6, 6), 3.0))
    initial = starts[0].noise
    assert torch.equal(calls[1][1], next_pass_noise(torch.full((8, 4, 6, 6), 1.0), None, 2.0, initial, 8, settings, _gen(42)))
    # pass 3 re-noises with the *first* pass's noise, not with pass 2's start
    assert torch.equal(calls[2][1], next_pass_noise(torch.full((8, 4, 6, 6), 2.0), None, 2.0, initial, 8, settings, _gen(43)))


class CountingSource:
    """A noise source like A1111's ImageRNG: every draw is new."""

    def __init__(self):
        self.generator, self.draws, self.seeds = _gen(5), 0, [5]

    def next(self):
        self.draws += 1
        return torch.randn(2, 3, generator=self.generator)


def test_pass_noise_hands_out_the_start_once_then_the_sources_draws():
    source = CountingSource()
    start = torch.ones(2, 3)
    noise = PassNoise(source, start)
    first = noise.next()
    assert torch.equal(first, start) and source.draws == 0
    first.mul_(3)  # the sampler scales its copy in place; the record keeps what was handed out
    assert torch.equal(noise.first, start)
    later = [noise.next() for _ in range(3)]
    assert source.draws == 3 and not any(torch.equal(a, b) for a, b in itertools.combinations([start, *later], 2))
    assert noise.seeds == [5]  # everything else is the source's


def test_pass_noise_without_a_start_records_the_sources_first_draw():
    source = CountingSource()
    noise = PassNoise(source)
    first = noise.next()
    assert source.draws == 1 and torch.equal(noise.first, first)
    assert not torch.equal(noise.next(), first) and source.draws == 2


def test_run_passes_samples_once_when_off_and_stops_when_asked():
    counted = []

    def sample_pass(number, noise):
        counted.append(number)
        return torch.zeros(4, 4, 4, 4)

    start = lambda: PassStart(None, 1.0, torch.zeros(4, 4, 4, 4))  # noqa: E731
    run_passes(FreeInitSettings(False, iterations=3), 4, 0, sample_pass, start)
    assert counted == [0]
    counted.clear()
    run_passes(FreeInitSettings(True, iterations=5), 4, 0, sample_pass, start, stop=lambda: len(counted) == 2)
    assert counted == [0, 1]
