"""Which Stable Diffusion generation a checkpoint file is, read from its header alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .families import BaseModel
from .state_dict_io import SAFETENSORS_SUFFIXES

UNET = "model.diffusion_model."
_INPUT_BLOCK = re.compile(re.escape(UNET) + r"input_blocks\.(\d+)\.")


@dataclass(frozen=True)
class CheckpointUNet:
    """What a checkpoint's header tells of its UNet: its resolution levels and the channels of
    the first (SD 1.5 and SDXL: 320; the SDXL refiner: 4 levels of 384 on)."""

    levels: int
    channels: int


def _header(path: Path) -> dict[str, list[int]] | None:
    """Key → shape of a safetensors checkpoint, from its header alone; None for other files."""
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return {key: list(file.get_slice(key).get_shape()) for key in file.keys()}
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is A1111's to report
        return None


def checkpoint_base(path: Path) -> BaseModel | None:
    """SD 1.5 or SDXL for a checkpoint file, from its safetensors header alone (SDXL checkpoints,
    refiners included, keep their text encoders under ``conditioner.``); None when unknown."""
    keys = _header(path) or {}
    if any(key.startswith("conditioner.") for key in keys):
        return BaseModel.SDXL
    if any(key.startswith(UNET) for key in keys):
        return BaseModel.SD15
    return None


def checkpoint_unet(path: Path) -> CheckpointUNet | None:
    """The shape of a checkpoint file's UNet, from its safetensors header; None when unknown."""
    shapes = _header(path) or {}
    blocks = {int(match.group(1)) for key in shapes if (match := _INPUT_BLOCK.match(key))}
    first = shapes.get(f"{UNET}input_blocks.0.0.weight")
    if not blocks or not first:
        return None
    return CheckpointUNet(levels=(max(blocks) + 2) // 3, channels=int(first[0]))
