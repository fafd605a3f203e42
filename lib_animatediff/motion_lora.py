"""Motion LoRAs: low-rank updates of the temporal attention projections.

Published files (guoyww naming) hold ``<module>...attention_blocks.N.processor.to_q_lora.down.weight``
and ``...up.weight`` for to_q, to_k, to_v and to_out. Merging is ``W += scale · up @ down``
in float32, with no alpha or rank division; unmerging puts back the exact weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import IncompatibleModelError, MotionModuleFileError
from .motion_module import MotionModuleSet
from .state_dict_io import StateDict, read_state_dict

_LORA_KEY = re.compile(r"^(?P<layer>.+)\.processor\.(?P<proj>to_q|to_k|to_v|to_out)_lora\.(?P<half>down|up)\.weight$")


@dataclass(frozen=True)
class LoraPair:
    down: torch.Tensor  # (rank, in)
    up: torch.Tensor  # (out, rank)

    @property
    def rank(self) -> int:
        return self.down.shape[0]


@dataclass(frozen=True)
class MotionLora:
    name: str
    # target weight key in the motion module set (e.g. "...attention_blocks.0.to_out.0.weight")
    pairs: dict[str, LoraPair]


def parse_motion_lora(state_dict: StateDict, name: str = "motion LoRA") -> MotionLora:
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        match = _LORA_KEY.match(key)
        if match is None:
            raise MotionModuleFileError(f"{name}: {key} is not a motion-LoRA key (…processor.to_q_lora.down.weight)")
        proj = "to_out.0" if match["proj"] == "to_out" else match["proj"]
        halves.setdefault(f"{match['layer']}.{proj}.weight", {})[match["half"]] = tensor
    pairs = {}
    for target, half in halves.items():
        if set(half) != {"down", "up"}:
            raise MotionModuleFileError(f"{name}: {target} has a LoRA {'down' if 'up' in half else 'up'} half only")
        pairs[target] = LoraPair(half["down"], half["up"])
    if not pairs:
        raise MotionModuleFileError(f"{name}: holds no motion-LoRA tensors")
    return MotionLora(name, pairs)


def load_motion_lora(path: str | Path) -> MotionLora:
    return parse_motion_lora(read_state_dict(path), Path(path).name)


class MergedMotionLora:
    """A motion LoRA merged into a module set; ``unmerge`` restores the exact weights."""

    def __init__(self, modules: MotionModuleSet, originals: dict[str, torch.Tensor]):
        self._modules = modules
        self._originals = originals

    def unmerge(self) -> None:
        params = dict(self._modules.named_parameters())
        with torch.no_grad():
            for key, original in self._originals.items():
                params[key].copy_(original)
        self._originals = {}


def merge_motion_lora(modules: MotionModuleSet, lora: MotionLora, scale: float) -> MergedMotionLora:
    """Merge ``lora`` into ``modules`` in place; refuses a LoRA that does not fit them."""
    params = dict(modules.named_parameters())
    _check_fits(modules, lora, params)
    originals = {}
    with torch.no_grad():
        for key, pair in lora.pairs.items():
            weight = params[key]
            originals[key] = weight.detach().clone()
            delta = pair.up.to(weight.device, torch.float32) @ pair.down.to(weight.device, torch.float32)
            weight.copy_((weight.float() + scale * delta).to(weight.dtype))
    return MergedMotionLora(modules, originals)


def _check_fits(modules: MotionModuleSet, lora: MotionLora, params: dict[str, torch.nn.Parameter]) -> None:
    for key, pair in lora.pairs.items():
        if key not in params:
            where = "a mid block" if key.startswith("mid_block.") else key.rsplit(".motion_modules.", 1)[0]
            raise IncompatibleModelError(
                f"motion LoRA {lora.name} needs {where}, which {modules.name} ({modules.family.title}) does not have; "
                "motion LoRAs are made for AnimateDiff v2"
            )
        expected = tuple(params[key].shape)
        got = (pair.up.shape[0], pair.down.shape[1])
        if got != expected:
            raise IncompatibleModelError(
                f"motion LoRA {lora.name} is {got[0]}×{got[1]} at {key}, but {modules.name} has {expected[0]}×{expected[1]} there"
            )
