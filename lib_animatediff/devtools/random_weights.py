"""Seeded random weights for motion modules and UNets, for tests, demos and benchmarks.

No published weights can be downloaded where this is tested, so modules of the real
layouts are filled with random values. Nothing is left at zero: a zero ``proj_out`` makes a
motion module the identity, and a zero UNet output conv makes every test pass vacuously.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import save_file
from torch import nn

from ..model.detection import HOTSHOT_PE_SUFFIX, PE_SUFFIX
from ..model.families import MotionModuleFamily
from ..model.motion_module import MotionModuleSet
from ..model.state_dict_io import StateDict


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Fill every parameter in place: norms' gains near 1, biases small, weights ~ 1/√fan_in."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            if param.dim() == 1 and name.endswith("weight"):
                value = 1.0 + 0.25 * noise
            elif param.dim() == 1:
                value = 0.1 * noise
            else:
                value = noise / math.sqrt(param[0].numel())
            param.copy_(value.to(param.dtype))
    return module


def random_motion_modules(
    family: MotionModuleFamily, channels: Sequence[int], seed: int = 0, pe_len: int | None = None, name: str = ""
) -> MotionModuleSet:
    modules = MotionModuleSet(family, channels, pe_len, name=name or f"random-{family.name}")
    return randomize_(modules, seed).requires_grad_(False).eval()


def published_state_dict(modules: MotionModuleSet, naming: str = "animatediff") -> StateDict:
    """The state dict as a published file of the family names and stores it."""
    state_dict = {k: v.detach().contiguous() for k, v in modules.state_dict().items()}
    if not modules.family.pe_stored:
        state_dict = {k: v for k, v in state_dict.items() if not k.endswith(PE_SUFFIX)}
    if naming == "hotshot":
        state_dict = {_hotshot_key(k): v for k, v in state_dict.items()}
    return state_dict


def save_motion_modules(modules: MotionModuleSet, path: str | Path, naming: str = "animatediff") -> Path:
    """Write a file in published naming: .safetensors, or a pickle for .ckpt/.pth."""
    path = Path(path)
    state_dict = published_state_dict(modules, naming)
    if path.suffix == ".safetensors":
        save_file(state_dict, str(path))
    else:
        torch.save(state_dict, str(path))
    return path


def _hotshot_key(key: str) -> str:
    key = key.replace(".temporal_transformer.", ".", 1).replace(".motion_modules.", ".temporal_attentions.", 1)
    return key[: -len(PE_SUFFIX)] + HOTSHOT_PE_SUFFIX if key.endswith(PE_SUFFIX) else key
