"""img2img with a first (and optionally a last) frame: each frame's starting latent.

Frame ``i`` starts from ``w_first[i] · first + w_last[i] · last + (1 - w_first[i] - w_last[i]) ·
noise[i]``: frames near the start keep most of the first image, frames near the end (when a last
image is given) most of the last image, and frames far from both are left to the sampler and
the motion module. The weights are those of sd-webui-animatediff, whose argument names
(``latent_power``, ``latent_scale`` and their ``_last`` twins) API clients send.
"""

from __future__ import annotations

import math

import torch

from ..errors import ParameterError


def frame_mix_weights(
    frames: int,
    power: float = 1.0,
    scale: float = 32.0,
    power_last: float = 1.0,
    scale_last: float = 32.0,
    has_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights ``(w_first, w_last)``, float32 of shape ``(frames,)``, of the first- and
    last-frame latents in each frame's starting latent.

    Each image's weight falls with the distance ``d`` (in frames) from its end of the video::

        a(i) = max(0, 1 - i ** power / scale)                              d = i
        b(i) = max(0, 1 - (frames - 1 - i) ** power_last / scale_last)     d = frames - 1 - i

    1 at the image's own frame, reaching 0 at ``d = scale ** (1 / power)``; a larger ``scale``
    fades more slowly, a larger ``power`` holds the image near its end and then drops faster.
    The defaults (1, 32) are a straight line to 0 at frame 32.

    Without a last image, ``w_first = a`` and ``w_last = 0``. With one, where ``a + b > 1`` both
    are divided by ``a + b`` (the two images then share the frame, with no noise), and the ends
    are pinned: frame 0 is the first image, frame ``frames - 1`` the last (in a one-frame
    video, the last image).
    """
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    _check_positive("latent_power", power)
    _check_positive("latent_scale", scale)
    frame = torch.arange(frames, dtype=torch.float64)
    w_first = _fade(frame, power, scale)
    if not has_last:
        return w_first.float(), torch.zeros(frames)
    _check_positive("latent_power_last", power_last)
    _check_positive("latent_scale_last", scale_last)
    w_last = _fade(frames - 1 - frame, power_last, scale_last)
    total = w_first + w_last
    over = total > 1
    w_first = torch.where(over, w_first / total, w_first)
    w_last = torch.where(over, w_last / total, w_last)
    w_first[0], w_last[0] = 1.0, 0.0
    w_first[-1], w_last[-1] = 0.0, 1.0
    return w_first.float(), w_last.float()


def mix_start_latents(
    first: torch.Tensor,
    last: torch.Tensor | None,
    noise: torch.Tensor,
    w_first: torch.Tensor,
    w_last: torch.Tensor,
) -> torch.Tensor:
    """Every frame's starting latent ``w_first·first + w_last·last + (1 - w_first - w_last)·noise``.

    ``first`` and ``last`` are ``(C, H, W)`` latents, ``noise`` ``(F, C, H, W)``, the weights
    ``(F,)`` (from :func:`frame_mix_weights`). With ``last = None``, ``w_last`` must be all zero.
    Computed in at least float32; the result has ``noise``'s dtype and device.
    """
    if noise.ndim != 4:
        raise ValueError(f"noise must have shape (frames, C, H, W), got {tuple(noise.shape)}")
    frames = noise.shape[0]
    if first.shape != noise.shape[1:]:
        raise ValueError(f"the first-frame latent must have shape {tuple(noise.shape[1:])}, got {tuple(first.shape)}")
    if last is not None and last.shape != noise.shape[1:]:
        raise ValueError(f"the last-frame latent must have shape {tuple(noise.shape[1:])}, got {tuple(last.shape)}")
    for name, weights in (("w_first", w_first), ("w_last", w_last)):
        if weights.shape != (frames,):
            raise ValueError(f"{name} must have shape ({frames},), got {tuple(weights.shape)}")
    if last is None and bool((w_last != 0).any()):
        raise ValueError("w_last has non-zero weights but no last-frame latent was given")
    dtype = torch.promote_types(noise.dtype, torch.float32)
    wf = w_first.to(noise.device, dtype).view(-1, 1, 1, 1)
    wl = w_last.to(noise.device, dtype).view(-1, 1, 1, 1)
    mixed = wf * first.to(noise.device, dtype) + (1 - wf - wl) * noise.to(dtype)
    if last is not None:
        mixed = mixed + wl * last.to(noise.device, dtype)
    return mixed.to(noise.dtype)


def _fade(distance: torch.Tensor, power: float, scale: float) -> torch.Tensor:
    # a huge power overflows to inf, which clamps to 0 like any distance past the fade
    return (1 - distance.pow(power) / scale).clamp(min=0)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"AnimateDiff argument {name!r} must be a number > 0, got {value!r}")
