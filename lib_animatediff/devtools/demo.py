"""An end-to-end check without the WebUI: a tiny UNet, the motion modules hooked in and
driven window by window through the same injection and runner the extension uses, a few
Euler steps over a video, frames out."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from PIL import Image

from ..model.families import SDXL_STANDARD_SCHEDULE
from ..model.injection import MotionModuleInjection
from ..model.motion_module import MotionModuleSet
from ..sampling.context import ContextSchedule
from ..sampling.video_runner import VideoModelRunner
from .euler import epsilon_denoiser, sample_euler, sampling_sigmas
from .tiny_unet import CONTEXT_DIM, build_unet

# Stable Diffusion's own schedule, which the injection replaces with the family's.
SD_SCHEDULE = SDXL_STANDARD_SCHEDULE
GUIDANCE = 7.0


def denoise_video(
    modules: MotionModuleSet,
    frames: int = 8,
    steps: int = 4,
    latent_size: tuple[int, int] = (16, 16),
    seed: int = 0,
    schedule: ContextSchedule | None = None,
    unet: torch.nn.Module | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Latents (frames, 4, h, w) denoised by a random UNet with ``modules`` injected.

    Cond and uncond run as one batch of two videos, as A1111 batches them; a video longer
    than the schedule's context is denoised in windows. The UNet runs on ``device``, where it
    is moved; the draws come from a CPU generator, so every device starts from the same noise.
    """
    unet = (unet or build_unet(modules.family.base, modules.level_channels, seed=seed)).to(device)
    schedule = schedule or ContextSchedule(context=min(frames, modules.pe_len))
    model = SimpleNamespace(alphas_cumprod=SD_SCHEDULE.alphas_cumprod())
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((frames, 4, *latent_size), generator=generator)
    cond = torch.randn((1, 7, CONTEXT_DIM), generator=generator)
    context = torch.cat([cond, torch.zeros_like(cond)]).repeat_interleave(frames, dim=0).to(device)
    noise = noise.to(device)
    with MotionModuleInjection(unet, modules, schedule_owner=model) as injection:
        runner = VideoModelRunner(injection, schedule, frames)
        denoise_rows = epsilon_denoiser(lambda x, t, c: runner(unet_call(unet), x, t, c), model.alphas_cumprod, c=context)

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            conditioned, uncond = denoise_rows(torch.cat([x, x]), sigma).chunk(2)
            return uncond + GUIDANCE * (conditioned - uncond)

        sigmas = sampling_sigmas(model.alphas_cumprod, steps)
        # the runner shifts its windows with the step, as the WebUI's sampler tells it
        return sample_euler(denoise, noise * sigmas[0], sigmas, callback=lambda i: setattr(runner, "step", i + 1))


def unet_call(unet: torch.nn.Module):
    """``unet`` called the way ``apply_model`` is: (x, t, conditioning)."""
    return lambda x, t, c: unet(x, t, context=c)


def latents_to_images(latents: torch.Tensor, scale: int = 8) -> list[Image.Image]:
    """A preview of latents as RGB: three channels, each stretched over the whole video."""
    rgb = latents[:, :3].float()
    low = rgb.amin(dim=(0, 2, 3), keepdim=True)
    high = rgb.amax(dim=(0, 2, 3), keepdim=True)
    rgb = ((rgb - low) / (high - low).clamp_min(1e-6) * 255).round().byte()
    rgb = torch.nn.functional.interpolate(rgb.float(), scale_factor=scale, mode="nearest").byte()
    return [Image.fromarray(frame.permute(1, 2, 0).numpy()) for frame in rgb]
