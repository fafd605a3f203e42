"""Motion LoRA merge against the reference, and exact unmerge."""

from __future__ import annotations

import pytest
import torch
from conftest import REFERENCE, reference_json
from safetensors.torch import load_file

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.errors import IncompatibleModelError, MotionModuleFileError
from lib_animatediff.model.families import V2, V3
from lib_animatediff.model.motion_lora import (
    LoraPair,
    is_motion_lora,
    load_motion_lora,
    merge_motion_lora,
    network_layer_name,
    parse_motion_lora,
)


@pytest.fixture(scope="module")
def reference():
    meta = reference_json("vectors/motion_lora.json")
    tensors = load_file(str(REFERENCE / "vectors" / meta["file"]))
    split = {part: {k[len(part) + 1 :]: v for k, v in tensors.items() if k.startswith(part + "/")} for part in ("base", "merged")}
    lora = {k: v for k, v in tensors.items() if "_lora." in k}
    return meta, split["base"], split["merged"], lora


def _v2style_modules(base):
    sidecar = reference_json("vectors/v2style.json")
    modules = random_motion_modules(V2, sidecar["channels_per_level"], seed=9, pe_len=sidecar["pe_max_len"])
    missing, unexpected = modules.load_state_dict(base, strict=False)
    assert not unexpected
    return modules


def test_merge_reproduces_reference_and_unmerge_restores_exactly(reference):
    meta, base, merged, lora_tensors = reference
    modules = _v2style_modules(base)
    before = {k: v.clone() for k, v in modules.state_dict().items()}
    lora = parse_motion_lora(lora_tensors, "v2style_lora")
    assert {pair.rank for pair in lora.pairs.values()} == {meta["rank"]}
    assert set(lora.pairs) == set(meta["touched_layers"])

    handle = merge_motion_lora(modules, lora, meta["scale"])
    state = modules.state_dict()
    for key, expected in merged.items():
        torch.testing.assert_close(state[key], expected, atol=meta["tolerance"]["atol"], rtol=0)
    changed = {k for k in state if not torch.equal(state[k], before[k])}
    assert changed == set(meta["touched_layers"])  # biases, norms, ff, proj_in/out untouched

    handle.unmerge()
    assert all(torch.equal(v, before[k]) for k, v in modules.state_dict().items())


def test_scale_zero_changes_nothing_and_scale_is_linear(reference):
    meta, base, merged, lora_tensors = reference
    modules = _v2style_modules(base)
    lora = parse_motion_lora(lora_tensors)
    key = meta["touched_layers"][0]
    original = modules.state_dict()[key].clone()
    handle = merge_motion_lora(modules, lora, 0.0)
    assert torch.equal(modules.state_dict()[key], original)
    handle.unmerge()
    handle = merge_motion_lora(modules, lora, 2 * meta["scale"])
    doubled = modules.state_dict()[key] - original
    torch.testing.assert_close(doubled, 2 * (merged[key] - base[key]), atol=1e-5, rtol=1e-5)
    handle.unmerge()


def test_lora_with_mid_block_is_refused_by_a_module_without_one(reference):
    meta, base, merged, lora_tensors = reference
    modules = random_motion_modules(V3, reference_json("vectors/v2style.json")["channels_per_level"])
    before = {k: v.clone() for k, v in modules.state_dict().items()}
    with pytest.raises(IncompatibleModelError, match="mid block"):
        merge_motion_lora(modules, parse_motion_lora(lora_tensors, "ZoomOut"), 1.0)
    assert all(torch.equal(v, before[k]) for k, v in modules.state_dict().items())


def test_lora_of_other_channels_is_refused(reference):
    lora_tensors = reference[3]
    modules = random_motion_modules(V2, (32, 64, 64, 64))
    with pytest.raises(IncompatibleModelError, match=r"64×64|128×128"):
        merge_motion_lora(modules, parse_motion_lora(lora_tensors, "ZoomOut"), 1.0)


def test_published_file_wrapped_in_state_dict_loads(tmp_path, reference):
    lora_tensors = reference[3]
    path = tmp_path / "v2_lora_ZoomOut.ckpt"
    torch.save({"state_dict": lora_tensors, "animatediff_config": {"alpha": 1.0}}, path)
    lora = load_motion_lora(path)
    assert lora.name == "v2_lora_ZoomOut.ckpt" and len(lora.pairs) == len(lora_tensors) // 2


def test_half_pairs_and_foreign_keys_are_refused():
    key = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora"
    with pytest.raises(MotionModuleFileError, match="half only"):
        parse_motion_lora({f"{key}.down.weight": torch.zeros(4, 8)})
    with pytest.raises(MotionModuleFileError, match="not a motion-LoRA key"):
        parse_motion_lora({"lora_unet_down_blocks_0.lora_down.weight": torch.zeros(4, 8)})


def _kohya_named(lora_tensors: dict, alpha: float | None) -> dict:
    """The reference LoRA under the repacked (kohya) naming."""
    renamed = {}
    for key, tensor in lora_tensors.items():
        layer, proj_half = key.split(".processor.")
        proj, half = proj_half.split("_lora.")
        proj = "to_out_0" if proj == "to_out" else proj
        stem = "lora_unet_" + layer.replace(".", "_") + "_" + proj
        renamed[f"{stem}.lora_{half}"] = tensor
        if alpha is not None:
            renamed[f"{stem}.alpha"] = torch.tensor(alpha)
    return renamed


@pytest.mark.parametrize("alpha_of_rank", [None, 1.0, 0.5])
def test_repacked_kohya_naming_reaches_the_same_layers_with_alpha_scaling(reference, alpha_of_rank):
    meta, base, merged, lora_tensors = reference
    alpha = None if alpha_of_rank is None else alpha_of_rank * meta["rank"]
    lora = parse_motion_lora(_kohya_named(lora_tensors, alpha), "repacked")
    assert set(lora.pairs) == set(meta["touched_layers"])
    modules = _v2style_modules(base)
    handle = merge_motion_lora(modules, lora, meta["scale"])
    state = modules.state_dict()
    expected_fraction = 1.0 if alpha_of_rank is None else alpha_of_rank
    for key in meta["touched_layers"]:
        torch.testing.assert_close(state[key] - base[key], expected_fraction * (merged[key] - base[key]), atol=1e-5, rtol=1e-4)
    handle.unmerge()


def test_kohya_parts_are_what_a1111_lora_reads(reference):
    meta, _, _, lora_tensors = reference
    pair = next(iter(parse_motion_lora(_kohya_named(lora_tensors, 2.0)).pairs.values()))
    parts = pair.kohya_parts()
    assert set(parts) == {"lora_down.weight", "lora_up.weight", "alpha"} and float(parts["alpha"]) == 2.0
    assert pair.scale == 2.0 / meta["rank"]
    assert set(LoraPair(pair.down, pair.up).kohya_parts()) == {"lora_down.weight", "lora_up.weight"}


def test_motion_lora_files_are_told_from_spatial_ones(reference):
    lora_tensors = reference[3]
    assert is_motion_lora(lora_tensors) and is_motion_lora(_kohya_named(lora_tensors, None))
    assert not is_motion_lora(["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", "lora_te_text_model_x.alpha"])


def test_network_layer_names_are_unique_and_module_like(reference):
    targets = list(parse_motion_lora(reference[3]).pairs)
    names = {network_layer_name(t) for t in targets}
    assert len(names) == len(targets)
    name = network_layer_name("mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_out.0.weight")
    assert name == "animatediff_mid_block_motion_modules_0_temporal_transformer_transformer_blocks_0_attention_blocks_1_to_out_0"
