"""Motion LoRAs handed to A1111's Lora extension: which networks get modules, and the undo.

A1111's own classes are not importable here; a small stand-in with the same interface
(``loaded_networks``, ``NetworkWeights``, ``ModuleTypeLora().create_module`` and
``network_restore_weights_from_backup``) records what the extension would be given.
The real extension is exercised in tests/webui/test_motion_lora_jobs.py.
"""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.errors import IncompatibleModelError
from lib_animatediff.model.families import V2, V3
from lib_animatediff.model.motion_lora import network_layer_name
from lib_animatediff.model.motion_module import TemporalSelfAttention
from lib_animatediff.undo import UndoStack
from lib_animatediff.webui.lora import LoraExtension, apply_motion_loras, merge_motion_loras, unet_strength

CHANNELS = (32, 64, 64, 64)


class FakeModule:
    def __init__(self, net, weights):
        self.net, self.weights = net, weights


def _extension(loaded: list) -> LoraExtension:
    def restore(layer):
        backup = getattr(layer, "network_weights_backup", None)
        if backup is not None:
            layer.weight.data.copy_(backup)

    networks = SimpleNamespace(loaded_networks=loaded, network_restore_weights_from_backup=restore)
    network = SimpleNamespace(NetworkWeights=namedtuple("NetworkWeights", ["network_key", "sd_key", "w", "sd_module"]))
    network_lora = SimpleNamespace(ModuleTypeLora=lambda: SimpleNamespace(create_module=FakeModule))
    return LoraExtension(networks, network, network_lora)


def _lora_file(tmp_path, modules, name: str, blocks=("down_blocks.0", "mid_block")) -> str:
    tensors = {}
    for block in blocks:
        layer = f"{block}.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0"
        channels = modules.get_submodule(f"{layer}.to_q").in_features if block != "mid_block" else CHANNELS[-1]
        for proj in ("to_q", "to_out"):
            tensors[f"{layer}.processor.{proj}_lora.down.weight"] = torch.randn(4, channels)
            tensors[f"{layer}.processor.{proj}_lora.up.weight"] = torch.randn(channels, 4)
    path = tmp_path / f"{name}.safetensors"
    save_file(tensors, str(path))
    return str(path)


def _net(name: str, filename: str, modules: dict | None = None):
    return SimpleNamespace(name=name, network_on_disk=SimpleNamespace(filename=filename), modules=modules or {}, unet_multiplier=0.8)


def test_motion_lora_networks_get_modules_and_layers_their_names_until_undone(tmp_path):
    modules = random_motion_modules(V2, CHANNELS)
    motion = _net("zoom", _lora_file(tmp_path, modules, "zoom"))
    spatial = _net("style", str(tmp_path / "never-read.safetensors"), modules={"lora_unet_x": object()})
    attention = modules.get_submodule("down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0")
    layer = attention.to_q
    original = layer.weight.detach().clone()

    with UndoStack() as undo:
        assert apply_motion_loras(undo, modules, _extension([spatial, motion])) == ["zoom"]
        name = network_layer_name("down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight")
        assert layer.network_layer_name == name
        assert set(motion.modules) >= {name} and len(motion.modules) == 4
        assert motion.modules[name].weights.sd_module is layer
        assert set(motion.modules[name].weights.w) == {"lora_down.weight", "lora_up.weight"}
        assert set(spatial.modules) == {"lora_unet_x"}
        # the extension applies the LoRA in each projection's forward, so they are called one by one
        with_lora = {
            f"{block}.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0"
            for block in ("down_blocks.0", "mid_block")
        }
        unfused = {path for path, a in modules.named_modules() if isinstance(a, TemporalSelfAttention) and not a.fuse_projections}
        assert unfused == with_lora
        # what the extension does on the first forward: back up, then change the weight
        layer.network_weights_backup = layer.weight.detach().clone()
        layer.network_current_names = (("zoom", 1.0, 0.8, 1.0),)
        layer.weight.data.add_(1.0)

    assert motion.modules == {}
    assert attention.fuse_projections
    assert torch.equal(layer.weight, original)
    assert not any(hasattr(layer, a) for a in ("network_layer_name", "network_weights_backup", "network_current_names"))


def test_a_misfit_motion_lora_is_refused_before_anything_changes(tmp_path):
    v2 = random_motion_modules(V2, CHANNELS)
    v3 = random_motion_modules(V3, CHANNELS)
    ok = _net("ok", _lora_file(tmp_path, v2, "ok", blocks=("down_blocks.0",)))
    with_mid = _net("with_mid", _lora_file(tmp_path, v2, "with_mid"))
    with UndoStack() as undo:
        with pytest.raises(IncompatibleModelError, match="with_mid.safetensors needs a mid block"):
            apply_motion_loras(undo, v3, _extension([ok, with_mid]))
        assert len(undo) == 0 and ok.modules == {}


def test_no_motion_loras_changes_nothing(tmp_path):
    modules = random_motion_modules(V2, CHANNELS)
    spatial_file = tmp_path / "spatial.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8)}, str(spatial_file))
    unmatched_spatial = _net("spatial", str(spatial_file))
    with UndoStack() as undo:
        assert apply_motion_loras(undo, modules, _extension([unmatched_spatial])) == []
        assert len(undo) == 0


def test_merged_motion_loras_change_only_their_layers_by_strength_until_undone(tmp_path):
    """Forge: the motion LoRAs the prompt names are merged into the motion modules for the job."""
    modules = random_motion_modules(V2, CHANNELS)
    before = {key: value.clone() for key, value in modules.state_dict().items()}
    zoom = _lora_file(tmp_path, modules, "zoom")
    spatial = tmp_path / "spatial.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8)}, str(spatial))
    target = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight"
    layer = target.removesuffix(".weight")
    pair = load_file(zoom)
    expected = before[target] + 0.5 * pair[f"{layer[: -len('.to_q')]}.processor.to_q_lora.up.weight"] @ pair[
        f"{layer[: -len('.to_q')]}.processor.to_q_lora.down.weight"
    ]
    with UndoStack() as undo:
        assert merge_motion_loras(undo, modules, [(spatial, 1.0), (Path(zoom), 0.5)]) == ["zoom"]
        state = modules.state_dict()
        torch.testing.assert_close(state[target], expected)
        changed = {key for key in state if not torch.equal(state[key], before[key])}
        assert len(changed) == 4 and target in changed  # to_q and to_out of two attentions
    assert all(torch.equal(value, before[key]) for key, value in modules.state_dict().items())


def test_a_misfit_merged_motion_lora_is_refused_before_anything_changes(tmp_path):
    v2, v3 = random_motion_modules(V2, CHANNELS), random_motion_modules(V3, CHANNELS)
    before = {key: value.clone() for key, value in v3.state_dict().items()}
    ok = Path(_lora_file(tmp_path, v2, "ok", blocks=("down_blocks.0",)))
    with_mid = Path(_lora_file(tmp_path, v2, "with_mid"))
    with UndoStack() as undo:
        with pytest.raises(IncompatibleModelError, match="with_mid.safetensors needs a mid block"):
            merge_motion_loras(undo, v3, [(ok, 1.0), (with_mid, 1.0)])
        assert len(undo) == 0
    assert all(torch.equal(value, before[key]) for key, value in v3.state_dict().items())


@pytest.mark.parametrize(
    "positional, named, strength",
    [(["zoom"], {}, 1.0), (["zoom", "0.7"], {}, 0.7), (["zoom", "0.7", "0.3"], {}, 0.3), (["zoom", "0.7"], {"unet": "0.2"}, 0.2),
     (["zoom"], {"te": "0.4"}, 0.4)],
)  # fmt: skip
def test_a_lora_entrys_unet_strength_is_read_as_the_lora_extensions_read_it(positional, named, strength):
    assert unet_strength(positional, named) == pytest.approx(strength)
