"""Motion LoRAs: low-rank updates of the temporal attention projections.

Published files (guoyww naming) hold ``<module>...attention_blocks.N.processor.to_q_lora.down.weight``
and ``...up.weight`` for to_q, to_k, to_v and to_out; their update is ``W += scale · up @ down``
with no alpha or rank division. Repacked files use kohya naming
(``lora_unet_<module path with _>.lora_down.weight``, ``.lora_up.weight``, optional ``.alpha``),
where an alpha scales the update by ``alpha / rank`` as in every kohya LoRA.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from ..errors import IncompatibleModelError, MotionModuleFileError
from .motion_module import MotionModuleSet
from .state_dict_io import StateDict, read_state_dict

_LORA_KEY = re.compile(r"^(?P<layer>.+)\.processor\.(?P<proj>to_q|to_k|to_v|to_out)_lora\.(?P<half>down|up)\.weight$")
_PATH_WORDS = (
    r"down_blocks|up_blocks|mid_block|motion_modules|temporal_transformer|transformer_blocks|attention_blocks|to_q|to_k|to_v|to_out|\d+"
)
_KOHYA_KEY = re.compile(
    r"^lora_unet_(?P<path>(?:down_blocks_\d+|up_blocks_\d+|mid_block)_motion_modules_\d+_temporal_transformer_"
    r"transformer_blocks_\d+_attention_blocks_\d+_(?:to_q|to_k|to_v|to_out_0))\.(?P<part>lora_down\.weight|lora_up\.weight|alpha)$"
)


@dataclass(frozen=True)
class LoraPair:
    down: torch.Tensor  # (rank, in)
    up: torch.Tensor  # (out, rank)
    alpha: float | None = None

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    @property
    def scale(self) -> float:
        """What ``up @ down`` is multiplied by before the user's strength."""
        return 1.0 if self.alpha is None else self.alpha / self.rank

    def kohya_parts(self) -> dict[str, torch.Tensor]:
        """The pair under the part names A1111's Lora extension reads."""
        parts = {"lora_down.weight": self.down, "lora_up.weight": self.up}
        if self.alpha is not None:
            parts["alpha"] = torch.tensor(self.alpha)
        return parts


@dataclass(frozen=True)
class MotionLora:
    name: str
    # target weight key in the motion module set (e.g. "...attention_blocks.0.to_out.0.weight")
    pairs: dict[str, LoraPair]


def is_motion_lora(keys: Iterable[str]) -> bool:
    """Whether a LoRA file's keys address motion modules (rather than the UNet or text encoder)."""
    return any("motion_modules" in key for key in keys)


def parse_motion_lora(state_dict: StateDict, name: str = "motion LoRA") -> MotionLora:
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        target, part = _target_and_part(key, name)
        parts.setdefault(target, {})[part] = tensor
    pairs = {}
    for target, found in parts.items():
        if not {"down", "up"} <= set(found):
            raise MotionModuleFileError(f"{name}: {target} has a LoRA {'down' if 'down' in found else 'up'} half only")
        alpha = float(found["alpha"]) if "alpha" in found else None
        pairs[target] = LoraPair(found["down"], found["up"], alpha)
    if not pairs:
        raise MotionModuleFileError(f"{name}: holds no motion-LoRA tensors")
    return MotionLora(name, pairs)


def _target_and_part(key: str, name: str) -> tuple[str, str]:
    """(motion-module weight the key updates, "down" | "up" | "alpha") for either naming."""
    match = _LORA_KEY.match(key)
    if match is not None:
        proj = "to_out.0" if match["proj"] == "to_out" else match["proj"]
        return f"{match['layer']}.{proj}.weight", match["half"]
    match = _KOHYA_KEY.match(key)
    if match is not None:
        path = ".".join(re.findall(_PATH_WORDS, match["path"]))
        return f"{path}.weight", match["part"].removeprefix("lora_").removesuffix(".weight")
    raise MotionModuleFileError(
        f"{name}: {key} is not a motion-LoRA key (…processor.to_q_lora.down.weight or lora_unet_…_to_q.lora_down.weight)"
    )


def network_layer_name(target: str) -> str:
    """The name A1111's Lora extension knows a motion-module layer by (its ``network_layer_name``)."""
    return "animatediff_" + target.removesuffix(".weight").replace(".", "_")


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
    check_fits(modules, lora)
    originals = {}
    with torch.no_grad():
        for key, pair in lora.pairs.items():
            weight = params[key]
            originals[key] = weight.detach().clone()
            delta = pair.up.to(weight.device, torch.float32) @ pair.down.to(weight.device, torch.float32)
            weight.copy_((weight.float() + scale * pair.scale * delta).to(weight.dtype))
    return MergedMotionLora(modules, originals)


def check_fits(modules: MotionModuleSet, lora: MotionLora) -> None:
    """Refuses, with a message naming both, a motion LoRA for layers or channels ``modules`` lacks."""
    params = dict(modules.named_parameters())
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
