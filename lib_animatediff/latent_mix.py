"""img2img with a first (and optionally a last) frame: each frame's starting latent.

Frame ``i`` starts from ``w_first[i] · first + w_last[i] · last + (1 - w_first[i] - w_last[i]) ·
noise[i]``: frames near the start keep most of the first image, frames near the end (when a last
image is given) most of the last image, and frames far from both are left to the sampler and
the motion module.
"""

from __future__ import annotations

import math

import torch

from .params import ParameterError


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

    Each image's pull decays with the distance ``d`` (in frames) from its end of the video::

        u_first(i) = min((i / scale) ** power, 1)                          d = i
        u_last(i)  = min(((frames - 1 - i) / scale_last) ** power_last, 1)  d = frames - 1 - i

    ``1 - u`` is the familiar ``latent_power`` / ``latent_scale`` decay: 1 at the image's own
    frame, down to 0 at ``d = scale`` and beyond; a larger ``scale`` decays more slowly, a
    larger ``power`` holds the image longer and then drops faster (``power = 1`` is a straight
    line, ``power < 1`` falls fastest at the start).

    Without a last image, ``w_first = 1 - u_first`` and ``w_last = 0``. With one, the two pulls
    ``a = 1 - u_first``, ``b = 1 - u_last`` are combined as two independent claims on the
    frame: the weight of each is the chance that it alone holds, given that not both do::

        w_first = a (1 - b) / (1 - a b)       w_last = b (1 - a) / (1 - a b)

    so frame 0 is the first image (``a = 1`` → ``w_first = 1``, ``w_last = 0``), the last frame
    the last image, ``w_first + w_last <= 1`` (it equals ``(a + b - 2ab) / (1 - ab)``), and
    ``w_first`` never rises, nor ``w_last`` falls, from frame to frame. Where both claims are
    whole (a one-frame video, or a power so large that both round to 1) the nearer end wins,
    the first on a tie.
    """
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    _check_positive("latent_power", power)
    _check_positive("latent_scale", scale)
    frame = torch.arange(frames, dtype=torch.float64)
    u_first = _decay(frame, power, scale)
    if not has_last:
        return (1 - u_first).float(), torch.zeros(frames)
    _check_positive("latent_power_last", power_last)
    _check_positive("latent_scale_last", scale_last)
    u_last = _decay(frames - 1 - frame, power_last, scale_last)
    # 1 - a·b = u_first + u_last - u_first·u_last, computed from the u's to keep its precision.
    both = u_first + u_last - u_first * u_last
    whole = both == 0
    safe = torch.where(whole, torch.ones_like(both), both)
    w_first = (1 - u_first) * u_last / safe
    w_last = (1 - u_last) * u_first / safe
    nearer_first = frame <= (frames - 1) / 2
    w_first = torch.where(whole, nearer_first.double(), w_first)
    w_last = torch.where(whole, (~nearer_first).double(), w_last)
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


def _decay(distance: torch.Tensor, power: float, scale: float) -> torch.Tensor:
    return (distance / scale).pow(power).clamp(max=1)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"AnimateDiff argument {name!r} must be a number > 0, got {value!r}")
