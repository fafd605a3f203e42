"""Where motion modules sit in A1111's UNet (``ldm`` for SD 1.5, ``sgm`` for SDXL).

Both UNets share the openaimodel block structure: ``input_blocks`` (a conv, then per level
two blocks and a downsample), ``middle_block`` and ``output_blocks`` (three per level,
deepest first). Classes are recognised by name so that either host's copy works.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import IncompatibleModelError
from .families import MODULES_PER_DOWN_LEVEL, MODULES_PER_UP_LEVEL, BaseModel
from .motion_module import MotionModuleSet


@dataclass(frozen=True)
class Slot:
    """One motion module's place: the UNet layer it runs beside, on that layer's input
    (``before``) or on its output. The UNet's own module lists stay as they are, so its
    state-dict keys do not change while a job runs."""

    prefix: str
    layer: nn.Module
    before: bool
    channels: int


def unet_base(unet: nn.Module) -> BaseModel:
    """SD 1.5 (4 levels) or SDXL (3 levels), from the number of input blocks."""
    levels = (len(unet.input_blocks) + 1) // 3
    for base in BaseModel:
        if base.levels == levels:
            return base
    raise IncompatibleModelError(f"a UNet with {len(unet.input_blocks)} input blocks is neither SD 1.5- nor SDXL-shaped")


def block_channels(block: nn.Sequential) -> int:
    """Output channels of a UNet block, read from its ResBlock."""
    for layer in block:
        if hasattr(layer, "out_channels") and hasattr(layer, "in_layers"):
            return int(layer.out_channels)
    raise IncompatibleModelError(f"UNet block {type(block).__name__} has no ResBlock to read channels from")


def unet_misfit(modules: MotionModuleSet, levels: int, channels: int) -> str | None:
    """Why ``modules`` cannot run in a UNet of ``levels`` resolution levels whose first has
    ``channels`` channels; None when they can."""
    family = modules.family
    first = next(module.channels for _, module in modules.blocks())
    if levels == family.base.levels and channels == first:
        return None
    return (
        f"its UNet has {levels} levels from {channels} channels, and {modules.name} ({family.title}) runs in "
        f"{family.base.value} UNets of {family.base.levels} levels from {first} channels"
    )


def motion_module_slots(unet: nn.Module, modules: MotionModuleSet) -> list[Slot]:
    """Each motion module's slot in this UNet; refuses a module that does not fit it."""
    family = modules.family
    base = unet_base(unet)
    if base is not family.base:
        raise IncompatibleModelError(
            f"{modules.name} is a {family.title} motion module for {family.base.value} checkpoints, "
            f"but the loaded checkpoint is {base.value}; choose a {base.value} motion module "
            f"({base.families_hint}) or load a {family.base.value} checkpoint"
        )
    slots = []
    for prefix, module in modules.blocks():
        block, before = _position(unet, prefix)
        channels = block_channels(block)
        if channels != module.channels:
            raise IncompatibleModelError(f"{modules.name}: {prefix} has {module.channels} channels but the UNet block there has {channels}")
        slots.append(Slot(prefix, block[-1], before, channels))
    return slots


def _position(unet: nn.Module, prefix: str) -> tuple[nn.Sequential, bool]:
    """The block a motion module belongs to, and whether it runs before that block's last
    layer (True) or after it."""
    kind, *rest = prefix.split(".")
    if kind == "mid_block":
        # resnet → spatial attention → motion module → resnet
        return unet.middle_block, True
    level, slot = int(rest[0]), int(rest[2])
    if kind == "down_blocks":
        return unet.input_blocks[1 + level * (MODULES_PER_DOWN_LEVEL + 1) + slot], False
    block = unet.output_blocks[level * MODULES_PER_UP_LEVEL + slot]
    # after the resnet and attention, before the upsampler where the block has one
    return block, type(block[-1]).__name__ == "Upsample"
