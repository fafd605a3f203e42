"""Small random-weight UNets of A1111's own ``ldm`` classes, shaped like SD 1.5 or SDXL.

Used by the ``inspect --demo`` command and the tests; needs the ``ldm`` package
(``stable-diffusion-sdkit``), which A1111 itself ships as ``repositories/``.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..model.families import BaseModel
from .random_weights import randomize_

CONTEXT_DIM = 32


def build_unet(base: BaseModel, level_channels: Sequence[int], seed: int = 0, context_dim: int = CONTEXT_DIM) -> nn.Module:
    """An ``ldm`` UNetModel with the block structure of ``base`` and the given channels.

    SD 1.5 has spatial attention on its first three levels, SDXL on its last two; that is
    all the motion modules care about. Every weight is random, none zero.
    """
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    first = level_channels[0]
    if any(c % first for c in level_channels):
        raise ValueError(f"level channels {list(level_channels)} are not multiples of {first}")
    if len(level_channels) != base.levels:
        raise ValueError(f"{base.value} has {base.levels} levels, got {len(level_channels)} channel counts")
    # downsampling factors at which the levels have spatial attention
    attention = (1, 2, 4) if base is BaseModel.SD15 else (2, 4)
    unet = UNetModel(
        image_size=32,
        in_channels=4,
        model_channels=first,
        out_channels=4,
        num_res_blocks=2,
        attention_resolutions=attention,
        channel_mult=[c // first for c in level_channels],
        num_head_channels=8,
        use_spatial_transformer=True,
        transformer_depth=1,
        context_dim=context_dim,
        use_linear_in_transformer=base is BaseModel.SDXL,
        legacy=False,
    )
    return randomize_(unet, seed).eval().requires_grad_(False)
