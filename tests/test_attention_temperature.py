"""The motion module's attention temperature ("Motion attention scale"): the logits of the
attention across frames multiplied by it, on top of the usual 1/sqrt(head dim)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import SD15_CHANNELS
from einops import rearrange

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.errors import ParameterError
from lib_animatediff.model.families import V2
from lib_animatediff.model.motion_module import HEADS
from lib_animatediff.webui.params import AnimateDiffParams


def _attention_by_definition(attention: torch.nn.Module, x: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(t · q kᵀ / sqrt(d)) v per head, written out; x: (sequences, frames, C)."""
    x = x + attention.pos_encoder.encodings(x.shape[1])
    q, k, v = (rearrange(proj(x), "n f (h d) -> n h f d", h=HEADS) for proj in (attention.to_q, attention.to_k, attention.to_v))
    weights = torch.softmax(temperature * q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return attention.to_out(rearrange(weights @ v, "n h f d -> n f (h d)"))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_the_temporal_attention_is_softmax_of_the_scaled_logits(temperature: float) -> None:
    block = random_motion_modules(V2, SD15_CHANNELS, seed=1).block("down_blocks.0.motion_modules.0")
    attention = block.temporal_transformer.transformer_blocks[0].attention_blocks[0]
    x = torch.randn(6, 16, block.channels)
    tokens = rearrange(x, "n f c -> f n c")  # the module's layout: one video's 16 frames of 6 positions
    with torch.no_grad():
        attended = rearrange(attention(tokens.clone(), 16, None, temperature), "f n c -> n f c")
        torch.testing.assert_close(attended, _attention_by_definition(attention, x, temperature))


def test_temperature_one_is_the_module_as_trained_and_others_change_it() -> None:
    block = random_motion_modules(V2, SD15_CHANNELS, seed=2).block("down_blocks.0.motion_modules.0")
    x = torch.randn(2 * 16, block.channels, 4, 4)
    with torch.no_grad():
        trained = block(x, 16)
        assert torch.equal(block(x, 16, None, 1.0), trained)
        sharper, softer = block(x, 16, None, 3.0), block(x, 16, None, 0.2)
    for other in (sharper, softer):
        assert (other - trained).abs().mean() > 0.05 * (trained - x).abs().mean()


def test_a_temperature_must_be_positive() -> None:
    AnimateDiffParams(motion_attention_scale=1.5)
    with pytest.raises(ParameterError, match="'motion_attention_scale'"):
        AnimateDiffParams(motion_attention_scale=0)


def test_the_hooked_module_runs_at_the_injections_temperature() -> None:
    from lib_animatediff.model.injection import VideoInCall, HookedMotionModule

    block = random_motion_modules(V2, SD15_CHANNELS, seed=3).block("down_blocks.0.motion_modules.0")
    frames = VideoInCall()
    frames.count = 16
    x = torch.randn(16, block.channels, 4, 4)
    with torch.no_grad():
        hooked = HookedMotionModule(block, frames, "down_blocks.0.motion_modules.0", temperature=2.0)
        torch.testing.assert_close(hooked(x), block(x, 16, None, 2.0))
        assert not torch.allclose(hooked(x), block(x, 16))
