"""Giving the model the noise schedule its motion module was trained with, undoably.

A1111 keeps a checkpoint's schedule as ``alphas_cumprod_original`` and, before every sampling,
derives ``alphas_cumprod`` from it with the user's overrides (Settings → Sampler parameters:
zero terminal SNR, downcast to fp16); samplers copy ``alphas_cumprod`` into their sigma or
timestep tables when they are built. So the motion module's schedule replaces the *original*,
the overrides are applied on top of it, and every sampler built while it is in place (img2img
builds its sampler before sampling starts) sees it.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..undo import UndoStack


def use_noise_schedule(
    undo: UndoStack, owner: Any, alphas_cumprod: torch.Tensor, apply_overrides: Callable[[], None] | None = None
) -> None:
    """``owner`` (A1111's ``sd_model``) samples with ``alphas_cumprod`` until ``undo`` is undone.

    Where the owner keeps an original schedule, that is replaced and ``apply_overrides()``
    (A1111's ``apply_alpha_schedule_override``) derives the working ``alphas_cumprod`` from it;
    without ``apply_overrides`` the working schedule is the new one as it is. Both attributes
    are put back exactly on undo.
    """
    current = owner.alphas_cumprod
    undo.set_attr(owner, "alphas_cumprod", current)  # recorded first, so undo restores it last
    if hasattr(owner, "alphas_cumprod_original"):
        original = owner.alphas_cumprod_original
        undo.set_attr(owner, "alphas_cumprod_original", alphas_cumprod.to(original.device, original.dtype))
        if apply_overrides is not None:
            apply_overrides()
            return
    owner.alphas_cumprod = alphas_cumprod.to(current.device, current.dtype)


def timestep_sigma(alphas_cumprod: torch.Tensor, timestep: float) -> float:
    """The k-diffusion sigma of a discrete timestep under ``alphas_cumprod``."""
    alpha = float(alphas_cumprod[int(timestep)])
    return ((1 - alpha) / alpha) ** 0.5
