"""Which Stable Diffusion generation a checkpoint file is, read from its header alone."""

from __future__ import annotations

from pathlib import Path

from .families import BaseModel
from .state_dict_io import SAFETENSORS_SUFFIXES


def checkpoint_base(path: Path) -> BaseModel | None:
    """SD 1.5 or SDXL for a checkpoint file, from its safetensors header alone (SDXL checkpoints,
    refiners included, keep their text encoders under ``conditioner.``); None when unknown."""
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            keys = list(file.keys())
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is A1111's to report
        return None
    if any(key.startswith("conditioner.") for key in keys):
        return BaseModel.SDXL
    if any(key.startswith("model.diffusion_model.") for key in keys):
        return BaseModel.SD15
    return None
