"""Motion LoRA merge against the reference, and exact unmerge."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from conftest import REFERENCE, reference_json
from lib_animatediff.errors import IncompatibleModelError, MotionModuleFileError
from lib_animatediff.families import V2, V3
from lib_animatediff.motion_lora import load_motion_lora, merge_motion_lora, parse_motion_lora
from lib_animatediff.random_weights import random_motion_modules


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
