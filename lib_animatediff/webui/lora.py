"""Motion LoRAs: through A1111's built-in Lora extension, or merged into the motion modules (Forge).

The extension parses ``<lora:NAME:STRENGTH>``, finds the file and loads it before sampling,
but it only matches keys to UNet and text-encoder layers, so a motion LoRA arrives as a
network with no modules. For the length of a job we give such networks modules for the
motion-module layers and name those layers the way the extension expects; from there its
own patched ``Linear.forward`` applies (and caches) the weights with the prompt's strength, so
the attentions of those layers call each projection as a layer instead of fusing q, k and v.
Everything goes on the job's undo stack, so the layers end the job with their own weights.

The extension's modules (``networks``, ``network``, ``network_lora``) are passed in, which
keeps this file free of WebUI imports.

Forge's Lora extension patches only its own UNet and text encoder and has no ``network_lora``;
there the motion LoRAs the prompt names are merged into the motion modules for the job
(:func:`merge_motion_loras`), their exact weights put back when it ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import torch

from ..log import logger
from ..model.motion_lora import MotionLora, check_fits, is_motion_lora, merge_motion_lora, network_layer_name, parse_motion_lora
from ..model.motion_module import MotionModuleSet
from ..model.state_dict_io import read_state_dict
from ..undo import UndoStack


@dataclass(frozen=True)
class LoraExtension:
    networks: ModuleType
    network: ModuleType
    network_lora: ModuleType


def apply_motion_loras(undo: UndoStack, modules: MotionModuleSet, lora: LoraExtension) -> list[str]:
    """Gives every loaded motion LoRA its modules; returns their names. Refuses (before
    touching anything) a motion LoRA that does not fit ``modules``."""
    found = [(net, _motion_lora_of(net)) for net in list(lora.networks.loaded_networks)]
    found = [(net, motion) for net, motion in found if motion is not None]
    for _, motion in found:
        check_fits(modules, motion)
    layers: dict[str, torch.nn.Linear] = {}
    for net, motion in found:
        for target, pair in motion.pairs.items():
            name = network_layer_name(target)
            path = target.removesuffix(".weight")
            layer = modules.get_submodule(path)
            undo.set_attr(modules.get_submodule(_attention_of(path)), "fuse_projections", False)
            weights = lora.network.NetworkWeights(network_key=target, sd_key=name, w=pair.kohya_parts(), sd_module=layer)
            undo.set_item(net.modules, name, lora.network_lora.ModuleTypeLora().create_module(net, weights))
            layers[name] = layer
        logger.info("motion LoRA %s at strength %s", net.name, net.unet_multiplier)
    for name, layer in layers.items():
        undo.set_attr(layer, "network_layer_name", name)
    if layers:
        undo.callback("put back the motion-module weights motion LoRAs changed", lambda: _restore(lora.networks, layers.values()))
    return [net.name for net, _ in found]


def _attention_of(layer_path: str) -> str:
    """``….attention_blocks.0`` of ``….attention_blocks.0.to_q`` (or ``….to_out.0``)."""
    return re.match(r".*\.attention_blocks\.\d+", layer_path).group(0)


def _motion_lora_of(net: Any) -> MotionLora | None:
    """The motion LoRA a loaded network holds, if it is one. The extension matched none of
    a motion LoRA's keys, so networks with modules are skipped without reading the file."""
    on_disk = getattr(net, "network_on_disk", None)
    if net.modules or on_disk is None:
        return None
    state_dict = read_state_dict(on_disk.filename)
    if not is_motion_lora(state_dict):
        return None
    return parse_motion_lora(state_dict, Path(on_disk.filename).name)


def _restore(networks: ModuleType, layers: Any) -> None:
    for layer in layers:
        networks.network_restore_weights_from_backup(layer)
        for attribute in ("network_weights_backup", "network_bias_backup", "network_current_names"):
            if attribute in vars(layer):
                delattr(layer, attribute)


def merge_motion_loras(undo: UndoStack, modules: MotionModuleSet, loras: Sequence[tuple[Path, float]]) -> list[str]:
    """The motion LoRAs among ``loras`` (file, strength; other LoRAs are left to the WebUI)
    merged into ``modules`` until ``undo``; returns their names. Refuses (before changing
    anything) a motion LoRA that does not fit ``modules``."""
    found = [(path.stem, motion, strength) for path, strength in loras if (motion := _motion_lora_in(path)) is not None]
    for _, motion, _ in found:
        check_fits(modules, motion)
    for name, motion, strength in found:
        merged = merge_motion_lora(modules, motion, strength)
        undo.callback(f"put back the weights motion LoRA {name} changed", merged.unmerge)
        logger.info("motion LoRA %s at strength %s", name, strength)
    return [name for name, _, _ in found]


def _motion_lora_in(path: Path) -> MotionLora | None:
    state_dict = read_state_dict(path)
    return parse_motion_lora(state_dict, path.name) if is_motion_lora(state_dict) else None


def unet_strength(positional: Sequence[str], named: dict[str, str]) -> float:
    """A ``<lora:NAME:…>`` entry's UNet strength, as the Lora extensions read it: the third
    positional value or ``unet=``, else the text-encoder strength (second, or ``te=``), else 1."""
    te = float(named.get("te", positional[1] if len(positional) > 1 else 1.0))
    return float(named.get("unet", positional[2] if len(positional) > 2 else te))
