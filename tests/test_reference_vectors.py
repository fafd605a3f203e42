"""The motion module reproduces the reference vectors of every reduced layout."""

from __future__ import annotations

import pytest
import torch
from conftest import REFERENCE, reference_json
from safetensors.torch import load_file

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.model.families import SDXL, V1, V2, GroupNormMode
from lib_animatediff.model.motion_module import MotionModule, TemporalSelfAttention

LAYOUT_FAMILIES = {"v1style": V1, "v2style": V2, "sdxlstyle": SDXL}


def _cases():
    for layout, family in LAYOUT_FAMILIES.items():
        sidecar = reference_json(f"vectors/{layout}.json")
        for module in sidecar["modules"]:
            for case in module["cases"]:
                yield pytest.param(layout, family, sidecar, module, case, id=case["name"].replace("case/", f"{layout}/"))


def _block_weights(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


@pytest.mark.parametrize("layout, family, sidecar, module, case", list(_cases()))
def test_block_in_full_set_matches_float64_reference(layout, family, sidecar, module, case):
    tolerance = dict(atol=2e-4, rtol=1e-4)
    tensors = load_file(str(REFERENCE / "vectors" / module["file"]))
    modules = random_motion_modules(family, sidecar["channels_per_level"], seed=5, pe_len=sidecar["pe_max_len"])
    block = modules.block(module["block_prefix"])
    block.load_state_dict(_block_weights(tensors, module["block_prefix"]), strict=True)

    x = tensors[f"{case['name']}/input"]
    expected = tensors[f"{case['name']}/output_f64"]
    assert tuple(x.shape) == tuple(case["shape"])
    with torch.no_grad():
        out = block(x, frames=case["frames"])
    torch.testing.assert_close(out, expected, **tolerance)
    # the block did something: the reference differs from its input by several units
    assert (out - x).abs().max() > 1.0


@pytest.mark.parametrize("module", reference_json("vectors/sdxlstyle.json")["modules"], ids=lambda m: m["block_prefix"])
def test_sdxl_groupnorm_modes_match_their_references(module):
    """AnimateDiff-SDXL runs with the official code's per-video GroupNorm; the per-frame
    variant (what other tools use) is still reproduced when asked for."""
    assert SDXL.motion_groupnorm is GroupNormMode.PER_VIDEO
    tensors = load_file(str(REFERENCE / "vectors" / module["file"]))
    weights = _block_weights(tensors, module["block_prefix"])
    pe_len = weights["temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"].shape[1]
    per_frame = MotionModule(module["channels"], pe_len, GroupNormMode.PER_FRAME)
    per_frame.load_state_dict(weights)
    for case in module["cases"]:
        x = tensors[f"{case['name']}/input"]
        with torch.no_grad():
            out = per_frame(x, frames=case["frames"])
        torch.testing.assert_close(out, tensors[f"{case['name']}/output_per_frame_groupnorm"], atol=2e-4, rtol=1e-4)
        # the two modes really differ here, so matching one is a real choice
        assert (out - tensors[f"{case['name']}/output_f64"]).abs().max() > 0.5


def test_videos_in_a_batch_do_not_mix():
    """Row b·F + f of the batch is frame f of video b; changing one video leaves the other."""
    module = random_motion_modules(V2, (64, 64, 64, 64), seed=1).block("down_blocks.0.motion_modules.0")
    x = torch.randn(2 * 8, 64, 3, 5)
    changed = x.clone()
    changed[:8] += torch.randn(8, 64, 3, 5)
    with torch.no_grad():
        a, b = module(x, frames=8), module(changed, frames=8)
    assert torch.equal(a[8:], b[8:])
    assert not torch.allclose(a[:8], b[:8])


def test_frames_beyond_positional_encoding_are_refused_with_a_clear_message():
    module = random_motion_modules(V1, (64, 64, 64, 64)).block("up_blocks.0.motion_modules.0")
    with pytest.raises(ValueError, match="at most 24"):
        module(torch.randn(25, 64, 2, 2), frames=25)


def test_batch_that_is_not_whole_videos_is_refused():
    module = random_motion_modules(V1, (64, 64, 64, 64)).block("up_blocks.0.motion_modules.0")
    with pytest.raises(ValueError, match="not a whole number of 8-frame videos"):
        module(torch.randn(12, 64, 2, 2), frames=8)


def test_positional_encoding_is_the_published_sinusoid():
    module = random_motion_modules(V2, (64, 64, 64, 64)).block("down_blocks.0.motion_modules.0")
    tensors = load_file(str(REFERENCE / "vectors" / "v2style" / "down_blocks.0.motion_modules.0.safetensors"))
    key = "temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"
    stored = tensors["down_blocks.0.motion_modules.0." + key]
    # the reference computed it in float32, we in float64: they differ in the last bits
    torch.testing.assert_close(module.state_dict()[key], stored, atol=5e-6, rtol=0)


def test_fused_projections_agree_with_calling_each_layer_which_then_runs_its_forward():
    """q, k and v from one matmul, or (when a LoRA hooks the projections' forward) one layer
    at a time: the same block output, and only the second runs the layers' own forward."""
    block = random_motion_modules(V2, (64, 64, 64, 64), seed=2).block("down_blocks.0.motion_modules.0")
    attentions = [m for m in block.modules() if isinstance(m, TemporalSelfAttention)]
    calls: list[str] = []
    for attention in attentions:
        for name in ("to_q", "to_k", "to_v"):
            getattr(attention, name).register_forward_hook(lambda *_, name=name: calls.append(name))
    x = torch.randn(2 * 8, 64, 3, 5)
    fused = block(x, frames=8)
    assert calls == []
    for attention in attentions:
        attention.fuse_projections = False
    one_by_one = block(x, frames=8)
    assert sorted(calls) == sorted(["to_q", "to_k", "to_v"] * len(attentions))
    torch.testing.assert_close(one_by_one, fused, atol=1e-5, rtol=1e-5)
    assert (fused - x).abs().max() > 0.1


def test_the_block_leaves_its_input_as_it_was():
    """The layers write into their own fresh outputs, never into what the UNet passed in."""
    block = random_motion_modules(V2, (64, 64, 64, 64), seed=3).block("up_blocks.1.motion_modules.2")
    x = torch.randn(2 * 8, 64, 4, 4)
    before = x.clone()
    out = block(x, frames=8)
    assert torch.equal(x, before) and out.data_ptr() != x.data_ptr()
