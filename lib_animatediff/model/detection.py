"""Naming conversions and family detection from a state dict's keys and shapes alone."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ..errors import MotionModuleFileError, MotionModuleLayoutError
from .families import ANIMATELCM, HOTSHOTXL, SDXL, V1, V2, V3, BaseModel, MotionModuleFamily
from .motion_module import NORM_GROUPS
from .state_dict_io import StateDict

_HOTSHOT_BLOCK = re.compile(r"^((?:down|up)_blocks\.\d+|mid_block)\.temporal_attentions\.(\d+)\.")
_DOWN_LEVEL = re.compile(r"^down_blocks\.(\d+)\.motion_modules\.")
PE_SUFFIX = ".pos_encoder.pe"
HOTSHOT_PE_SUFFIX = ".pos_encoder.positional_encoding"


@dataclass(frozen=True)
class DetectedLayout:
    """What a file's keys say about the module it holds."""

    family: MotionModuleFamily
    level_channels: tuple[int, ...]
    pe_len: int
    naming: str  # "animatediff" or "hotshot"


def is_hotshot_naming(state_dict: StateDict) -> bool:
    return any(_HOTSHOT_BLOCK.match(key) for key in state_dict)


def to_animatediff_naming(state_dict: StateDict) -> StateDict:
    """HotShot-XL's native names (``temporal_attentions``) in AnimateDiff's naming."""
    converted = {}
    for key, tensor in state_dict.items():
        key = _HOTSHOT_BLOCK.sub(r"\1.motion_modules.\2.temporal_transformer.", key)
        if key.endswith(HOTSHOT_PE_SUFFIX):
            key = key[: -len(HOTSHOT_PE_SUFFIX)] + PE_SUFFIX
        converted[key] = tensor
    return converted


def detect_layout(state_dict: StateDict, name: str = "motion module") -> DetectedLayout:
    """The family, channels and pe length of a state dict in AnimateDiff or HotShot naming.

    Raises ``MotionModuleFileError`` for files that are not motion modules at all and
    ``MotionModuleLayoutError`` for motion modules of a shape no family has.
    """
    naming = "hotshot" if is_hotshot_naming(state_dict) else "animatediff"
    keys = to_animatediff_naming(state_dict) if naming == "hotshot" else state_dict
    _reject_foreign_files(keys, name)

    levels = 1 + max((int(m.group(1)) for m in map(_DOWN_LEVEL.match, keys) if m), default=-1)
    has_mid = any(key.startswith("mid_block.") for key in keys)
    pe_len = _pe_length(keys, name)
    base = {4: BaseModel.SD15, 3: BaseModel.SDXL}.get(levels)
    if base is None:
        raise MotionModuleLayoutError(f"{name}: {levels} down levels; SD 1.5 modules have 4 and SDXL modules 3")
    family = _family(base, has_mid, pe_len, naming, name)
    channels = tuple(_level_channels(keys, level, name) for level in range(levels))
    return DetectedLayout(family, channels, pe_len or family.pe_max_len, naming)


def _family(base: BaseModel, has_mid: bool, pe_len: int | None, naming: str, name: str) -> MotionModuleFamily:
    if base is BaseModel.SD15:
        if has_mid:
            return V2 if pe_len else ANIMATELCM
        if pe_len:
            # v3 shares v1's keys; only the published pe length (32 against 24) tells them apart.
            return V3 if pe_len == V3.pe_max_len else V1
        raise MotionModuleLayoutError(f"{name}: an SD 1.5 module with neither a mid block nor positional encodings")
    if has_mid:
        raise MotionModuleLayoutError(f"{name}: an SDXL-shaped module with a mid block; no published SDXL family has one")
    if not pe_len:
        raise MotionModuleLayoutError(f"{name}: an SDXL-shaped module without positional encodings; no published family")
    if naming == "hotshot" or pe_len != SDXL.pe_max_len:
        return HOTSHOTXL
    return SDXL


def _pe_length(keys: StateDict, name: str) -> int | None:
    lengths = {tuple(t.shape)[1] for k, t in keys.items() if k.endswith(PE_SUFFIX) and t.dim() == 3}
    if len(lengths) > 1:
        raise MotionModuleLayoutError(f"{name}: positional encodings of different lengths {sorted(lengths)}")
    return lengths.pop() if lengths else None


def _level_channels(keys: StateDict, level: int, name: str) -> int:
    """The channels of a level, by majority over tensors that all carry them, so that one
    tensor of a wrong shape is reported by the layout check instead of setting the size."""
    prefix = f"down_blocks.{level}.motion_modules.0.temporal_transformer."
    sizes = [keys[prefix + key].shape[0] for key in ("norm.weight", "norm.bias", "proj_in.bias", "proj_out.bias") if prefix + key in keys]
    if not sizes:
        raise MotionModuleLayoutError(f"{name}: incomplete layout, {prefix}norm.weight is missing")
    channels = int(Counter(sizes).most_common(1)[0][0])
    if channels % NORM_GROUPS:
        raise MotionModuleLayoutError(f"{name}: level {level} has {channels} channels, not a multiple of {NORM_GROUPS} norm groups")
    return channels


def _reject_foreign_files(keys: StateDict, name: str) -> None:
    if any("_lora." in key for key in keys):
        raise MotionModuleFileError(
            f"{name}: this is a motion LoRA, not a motion module; put it in the Lora folder and "
            "use it in the prompt as <lora:NAME:STRENGTH>"
        )
    if not keys:
        raise MotionModuleFileError(f"{name}: holds no tensors")
    if not any(".motion_modules." in key for key in keys):
        sample = next(iter(keys))
        hint = " (it looks like a Stable Diffusion checkpoint)" if "model.diffusion_model." in sample else ""
        raise MotionModuleFileError(f"{name}: no motion-module keys, not an AnimateDiff motion module{hint}; first key: {sample}")
