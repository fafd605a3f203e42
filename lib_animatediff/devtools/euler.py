"""A minimal epsilon-prediction Euler sampler, for the demo and the tests.

Inside the WebUI, A1111's own samplers drive the UNet; this exists so the motion modules
can be exercised end to end without it. Sigmas follow the k-diffusion convention:
``sigma = sqrt((1 - ᾱ) / ᾱ)`` for each of the 1000 training timesteps.
"""

from __future__ import annotations

from typing import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sigmas_of(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt()


def sampling_sigmas(alphas_cumprod: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` sigmas evenly spaced in timestep from the noisiest down, then 0."""
    table = sigmas_of(alphas_cumprod.double())
    timesteps = torch.linspace(len(table) - 1, 0, steps).round().long()
    return torch.cat([table[timesteps], table.new_zeros(1)]).float()


def epsilon_denoiser(model: Callable[..., torch.Tensor], alphas_cumprod: torch.Tensor, **model_kwargs: object) -> Denoiser:
    """``denoised = x - sigma · eps(x / sqrt(sigma² + 1), t)``, t the nearest timestep to sigma."""
    table = sigmas_of(alphas_cumprod.double())

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        t = (table - sigma.double()).abs().argmin()
        eps = model(x / (sigma**2 + 1) ** 0.5, t.expand(x.shape[0]).to(x.device), **model_kwargs)
        return x - eps * sigma

    return denoise


@torch.no_grad()
def sample_euler(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callable[[int], None] | None = None) -> torch.Tensor:
    """Euler's method on the probability-flow ODE (Karras et al. 2022, algorithm 1 without churn)."""
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i])
        x = x + (x - denoised) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
        if callback is not None:
            callback(i)
    return x
