"""FreeInit (Wu et al. 2023, "FreeInit: Bridging Initialization Gap in Video Diffusion Models").

Video diffusion models are trained on noised videos whose low spatio-temporal frequencies still
carry the video, while sampling starts from pure noise, whose low frequencies are as random as
its high ones. FreeInit samples a video, diffuses the result back to the start of sampling,
and starts again from a latent that keeps the low frequencies of that diffused video and takes
its high frequencies from fresh noise; a few passes give more consistent motion and appearance.

The sampling loop belongs to the caller; this module holds the parts that need no WebUI: the
low-pass filter (:func:`frequency_filter`), the reinitialisation (:func:`reinitialize`), the unit
noise a later pass starts from (:func:`next_pass_noise`), the passes (:func:`run_passes`), the
stand-in noise source that hands a pass its start noise (:class:`PassNoise`) and the settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import AnimateDiffError

BUTTERWORTH_ORDER = 4


def _butterworth(rho2: torch.Tensor, inside_box: torch.Tensor, order: int) -> torch.Tensor:
    return 1 / (1 + rho2**order)


def _gaussian(rho2: torch.Tensor, inside_box: torch.Tensor, order: int) -> torch.Tensor:
    return torch.exp(-rho2 / 2)


def _ideal(rho2: torch.Tensor, inside_box: torch.Tensor, order: int) -> torch.Tensor:
    return (rho2 <= 1).double()


def _box(rho2: torch.Tensor, inside_box: torch.Tensor, order: int) -> torch.Tensor:
    return inside_box.double()


# each filter's mask from the normalised squared distance ρ², the cuboid |ν| <= d per axis, and
# the Butterworth order (see frequency_filter); a new filter is one row
FILTERS: dict[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = {
    "butterworth": _butterworth, "gaussian": _gaussian, "box": _box, "ideal": _ideal,
}  # fmt: skip
FILTER_KINDS = tuple(FILTERS)


def frequency_filter(
    shape: tuple[int, int, int],
    kind: str,
    d_s: float,
    d_t: float,
    order: int = BUTTERWORTH_ORDER,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A low-pass mask of shape ``(F, H, W)`` over the 3-D (temporal × spatial) frequencies of a
    video, centred as :func:`torch.fft.fftshift` lays out a spectrum (zero frequency at index
    ``n // 2`` of each axis). Float32, values in [0, 1], 1 at zero frequency.

    Each axis's frequency is normalised to ``ν = 2 f``, ``f`` from :func:`torch.fft.fftfreq` (in
    cycles per sample), so ``ν`` runs over [-1, 1) with ±1 the Nyquist frequency. ``d_s`` is the
    cut-off of the two spatial axes and ``d_t`` of the temporal axis, as fractions of Nyquist;
    the normalised distance from zero frequency is::

        ρ = sqrt((ν_t / d_t)² + (ν_h / d_s)² + (ν_w / d_s)²)

    and the filters are:

    * ``butterworth``: ``1 / (1 + ρ^(2·order))`` (0.5 at ``ρ = 1``, steeper with ``order``);
    * ``gaussian``: ``exp(-ρ² / 2)`` (the cut-offs are the standard deviations);
    * ``ideal``: 1 where ``ρ <= 1`` (an ellipsoid), else 0;
    * ``box``: 1 where ``|ν_t| <= d_t``, ``|ν_h| <= d_s`` and ``|ν_w| <= d_s`` (a cuboid), else 0.

    Each depends only on ``|ν|`` per axis, so the mask is symmetric about zero frequency and
    filtering a real signal gives a real signal.
    """
    if kind not in FILTER_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, FILTER_KINDS))}, got {kind!r}")
    if len(shape) != 3 or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in shape):
        raise ValueError(f"shape must be three sizes (frames, height, width) >= 1, got {tuple(shape)!r}")
    for name, value in (("d_s", d_s), ("d_t", d_t)):
        if not _is_number(value) or value <= 0:
            raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if kind == "butterworth" and (not isinstance(order, int) or isinstance(order, bool) or order < 1):
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    frames, height, width = shape
    nu_t, nu_h, nu_w = (
        (2 * torch.fft.fftshift(torch.fft.fftfreq(n, dtype=torch.float64, device=device))).abs() for n in (frames, height, width)
    )
    nu_t, nu_h, nu_w = nu_t.view(-1, 1, 1), nu_h.view(1, -1, 1), nu_w.view(1, 1, -1)
    rho2 = (nu_t / d_t) ** 2 + (nu_h / d_s) ** 2 + (nu_w / d_s) ** 2
    inside_box = (nu_t <= d_t) & (nu_h <= d_s) & (nu_w <= d_s)
    return FILTERS[kind](rho2, inside_box, order).float()


def reinitialize(latents: torch.Tensor, noise: torch.Tensor, low_pass: torch.Tensor) -> torch.Tensor:
    """FreeInit's noise reinitialisation: the low frequencies of ``latents``, the high of ``noise``.

    ``latents`` (``(F, C, H, W)``: the previous pass's result diffused back to the start of
    sampling by the caller) and fresh ``noise`` of the same shape and scale are each taken
    through a 3-D FFT over frames, height and width, channel by channel; the spectra are mixed
    as ``low_pass · L + (1 - low_pass) · N`` with ``low_pass`` an ``(F, H, W)`` mask in
    fftshift layout (:func:`frequency_filter`), and transformed back. An all-ones mask returns
    ``latents``, an all-zeros mask ``noise``. Computed in at least float32; the result has
    ``latents``' dtype.
    """
    if latents.ndim != 4:
        raise ValueError(f"latents must have shape (frames, C, H, W), got {tuple(latents.shape)}")
    if noise.shape != latents.shape:
        raise ValueError(f"noise must have the latents' shape {tuple(latents.shape)}, got {tuple(noise.shape)}")
    frames, _, height, width = latents.shape
    if low_pass.shape != (frames, height, width):
        raise ValueError(f"low_pass must have shape {(frames, height, width)}, got {tuple(low_pass.shape)}")
    dtype = torch.promote_types(latents.dtype, torch.float32)
    dims = (0, 2, 3)
    # Unshifting the mask is the same as shifting both spectra and unshifting the result.
    mask = torch.fft.ifftshift(low_pass.to(latents.device, dtype), dim=(0, 1, 2)).unsqueeze(1)
    spectrum_latents = torch.fft.fftn(latents.to(dtype), dim=dims)
    spectrum_noise = torch.fft.fftn(noise.to(latents.device, dtype), dim=dims)
    mixed = spectrum_latents * mask + spectrum_noise * (1 - mask)
    return torch.fft.ifftn(mixed, dim=dims).real.to(latents.dtype)


def next_pass_noise(
    samples: torch.Tensor,
    start: torch.Tensor | None,
    sigma: float,
    initial_noise: torch.Tensor,
    frames: int,
    settings: FreeInitSettings,
    generator: torch.Generator,
) -> torch.Tensor:
    """The unit-variance noise the next pass starts from, in place of the seed's noise.

    Samplers start from ``start + sigma · noise`` (``start`` is the img2img start latent, None
    in txt2img; ``sigma`` the first step's noise level in k-diffusion terms, which is also what
    DDIM-style samplers' ``sqrt(ᾱ)·start + sqrt(1 - ᾱ)·noise`` reduces to after dividing by
    ``sqrt(ᾱ)``). As the FreeInit paper's code does, the previous pass's ``samples``
    (``(videos·frames, C, H, W)``) are diffused back to that level with the *first* pass's
    ``initial_noise`` ε: ``start + sigma · ((samples - start) / sigma + ε)``, so as unit noise
    ``(samples - start) / sigma + ε``. Of that, each video keeps the low frequencies and takes
    the high ones from fresh noise drawn from ``generator`` (:func:`reinitialize`).
    """
    if samples.shape[0] % frames:
        raise ValueError(f"{samples.shape[0]} latents are not whole videos of {frames} frames")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    if initial_noise.shape != samples.shape:
        raise ValueError(f"the initial noise must have the samples' shape {tuple(samples.shape)}, got {tuple(initial_noise.shape)}")
    work = samples.float().cpu()
    offset = work if start is None else work - start.float().cpu().expand_as(work)
    diffused = offset / sigma + initial_noise.float().cpu()
    fresh = torch.randn(work.shape, generator=generator)
    low_pass = settings.low_pass((frames, work.shape[2], work.shape[3]))
    videos = [reinitialize(d, n, low_pass) for d, n in zip(diffused.split(frames), fresh.split(frames))]
    return torch.cat(videos).to(samples.device, samples.dtype)


@dataclass(frozen=True)
class PassStart:
    """Where a sampling pass started: the img2img start latent (None in txt2img), the first
    step's noise level (k-diffusion sigma) and the unit noise the sampler drew first."""

    latent: torch.Tensor | None
    sigma: float
    noise: torch.Tensor


class PassNoise:
    """Stands in for the WebUI's noise source (``p.rng``: ``next()`` draws the next batch of unit
    noise) for one sampling pass. The sampler's first draw is ``start`` when given (a later
    FreeInit pass's start noise), else the source's own; every later draw (the per-step noise of
    ancestral samplers) comes from the source, as in any pass. ``reschedule`` changes the
    source's first draw (FreeNoise). ``first`` keeps the first draw."""

    def __init__(
        self, source: Any, start: torch.Tensor | None = None, reschedule: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> None:
        self._source = source
        self._start = start
        self._reschedule = reschedule
        self.first: torch.Tensor | None = None

    def next(self) -> torch.Tensor:
        if self.first is not None:
            return self._source.next()
        if self._start is not None:
            drawn = self._start.clone()
        else:
            drawn = self._source.next()
            drawn = self._reschedule(drawn) if self._reschedule is not None else drawn
        self.first = drawn.clone()  # the sampler may scale its copy in place
        return drawn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


class FirstNoiseLevel:
    """The first step's noise level of a sampling pass (k-diffusion sigma), from the first
    denoiser call of the pass."""

    def __init__(self) -> None:
        self.sigma: float | None = None

    def record(self, sigma: float) -> None:
        if self.sigma is None:
            self.sigma = float(sigma)

    def read(self) -> float:
        if self.sigma is None:
            raise AnimateDiffError("FreeInit: the sampler never called the model, so the pass has no start")
        return self.sigma


def run_passes(
    settings: FreeInitSettings,
    frames: int,
    seed: int,
    sample_pass: Callable[[int, torch.Tensor | None], torch.Tensor],
    pass_start: Callable[[], PassStart],
    stop: Callable[[], bool] = lambda: False,
) -> torch.Tensor:
    """FreeInit's passes: ``sample_pass(number, noise)`` samples once from unit noise ``noise``
    (None: the seed's own) and ``pass_start()`` tells where the pass that just ran started.
    Every later pass re-noises the result with the first pass's initial noise
    (:func:`next_pass_noise`). Returns the last pass's samples; ``stop()`` ends early."""
    passes = settings.iterations if settings.enable else 1
    noise = initial = None
    for number in range(passes):
        samples = sample_pass(number, noise)
        if number == passes - 1 or stop():
            return samples
        start = pass_start()
        if initial is None:
            initial = start.noise
        generator = torch.Generator().manual_seed(seed + number)
        noise = next_pass_noise(samples, start.latent, start.sigma, initial, frames, settings, generator)
    raise AssertionError("unreachable: the last pass returns")


@dataclass(frozen=True)
class FreeInitSettings:
    """FreeInit's settings (validated where they come from, ``AnimateDiffParams``).

    ``filter``: one of :data:`FILTER_KINDS`; ``d_s``, ``d_t``: the spatial and temporal cut-offs
    of :func:`frequency_filter`, in (0, 1]; ``iterations``: sampling passes in all, the first
    from plain noise and each later one from the previous result reinitialised (so 1 pass is
    plain sampling).
    """

    enable: bool = False
    filter: str = "butterworth"
    d_s: float = 0.25
    d_t: float = 0.25
    iterations: int = 3

    @classmethod
    def from_params(cls, params: Any) -> FreeInitSettings:
        """From an object with AnimateDiff's ``freeinit_*`` arguments (``AnimateDiffParams``)."""
        return cls(params.freeinit_enable, params.freeinit_filter, params.freeinit_ds, params.freeinit_dt, params.freeinit_iters)

    def low_pass(self, shape: tuple[int, int, int], device: torch.device | str | None = None) -> torch.Tensor:
        """These settings' :func:`frequency_filter` for latents of ``(F, H, W)`` = ``shape``."""
        return frequency_filter(shape, self.filter, self.d_s, self.d_t, device=device)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
