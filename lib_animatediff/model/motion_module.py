"""The AnimateDiff temporal transformer, written from the facts in the reference README.

Attribute names follow the published state-dict keys, so a file loads with no renaming:
``<prefix>.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_q.weight``.

Every module takes the frame count as an argument; a batch of ``B·F`` rows is ``B``
independent videos of ``F`` frames, batch-major (row = b·F + f).

The modules are for inference (loaded files are frozen), and written for memory traffic:
where a layer's output is fresh and nothing else holds it, the next step writes into it
instead of allocating (on a CPU every large new tensor costs a pass of page faults as well as
its own), and the (B·F, C, H, W) ↔ tokens layout changes happen inside the matmuls of
``proj_in`` and ``proj_out``, which read or write their operands transposed. Those two and the
feed-forward's output layer are computed from their weights; the attention projections, which
motion LoRAs change through A1111's hooks, stay layers (see ``fuse_projections``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .families import MODULES_PER_DOWN_LEVEL, MODULES_PER_UP_LEVEL, GroupNormMode, MotionModuleFamily

HEADS = 8
NORM_GROUPS = 32


def sinusoidal_positions(length: int, channels: int) -> torch.Tensor:
    """Fixed sinusoid of shape (1, length, channels): sin on even, cos on odd channels."""
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, channels, 2, dtype=torch.float64) * (-math.log(10000.0) / channels))
    pe = torch.zeros(length, channels, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * inv_freq)
    pe[:, 1::2] = torch.cos(position * inv_freq)
    return pe.unsqueeze(0).float()


def interpolated_rows(table: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rows of ``table`` (``(length, C)``) at fractional ``positions``, linear between neighbours."""
    positions = positions.to(table.device, torch.float32)
    if positions.numel() and (positions.min() < 0 or positions.max() > table.shape[0] - 1):
        raise ValueError(f"positions {positions.min():.2f}..{positions.max():.2f} lie outside the table's 0..{table.shape[0] - 1}")
    low = positions.floor().long()
    high = positions.ceil().long()
    weight = (positions - low).unsqueeze(1).to(table.dtype)
    return table[low] * (1 - weight) + table[high] * weight


def stretched_positions(frames: int, spacing: float) -> torch.Tensor:
    """Positions of a window's frames ``spacing`` apart: spacing ``T / N`` lays a window of ``N``
    frames over the ``T`` positions a module was trained on."""
    return torch.arange(frames, dtype=torch.float32) * spacing


def video_group_norm(
    x: torch.Tensor,
    frames: int,
    mode: GroupNormMode,
    num_groups: int,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
) -> torch.Tensor:
    """GroupNorm of (B·F, C, H, W) rows, per frame or with statistics over each whole video."""
    if mode is GroupNormMode.PER_FRAME:
        return F.group_norm(x, num_groups, weight, bias, eps)
    videos = rearrange(x, "(b f) c h w -> b c f h w", f=frames)
    videos = F.group_norm(videos, num_groups, weight, bias, eps)
    return rearrange(videos, "b c f h w -> (b f) c h w")


def linear_of_channels_first(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer`` on the tokens of channels-first rows ``x`` (N, C, L): (N, L, C_out), the
    transpose read by the matmul itself."""
    weight = layer.weight.t().expand(x.shape[0], -1, -1)
    return torch.baddbmm(layer.bias, x.transpose(1, 2), weight)


# The two below accumulate into a tensor in place, which autocast does not cast for: their
# operands are brought to the dtype of the sum (a no-op unless autocast made them differ).


def residual_plus_linear_channels_first(residual: torch.Tensor, layer: nn.Linear, tokens: torch.Tensor) -> torch.Tensor:
    """``residual`` (N, C, L) plus ``layer`` of ``tokens`` (N, L, C_in), written channels first
    by the matmul itself."""
    out = residual + layer.bias.view(1, -1, 1)
    weight = layer.weight.to(out.dtype).expand(tokens.shape[0], -1, -1)
    return out.baddbmm_(weight, tokens.to(out.dtype).transpose(1, 2))


def add_linear_(residual: torch.Tensor, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``residual += layer(x)``, the matmul accumulating straight into ``residual``."""
    dtype = residual.dtype
    flat = residual.view(-1, residual.shape[-1])
    flat.addmm_(x.to(dtype).reshape(-1, x.shape[-1]), layer.weight.to(dtype).t()).add_(layer.bias.to(dtype))
    return residual


class PositionalEncoding(nn.Module):
    def __init__(self, channels: int, max_len: int):
        super().__init__()
        self.register_buffer("pe", sinusoidal_positions(max_len, channels))

    @property
    def max_len(self) -> int:
        return self.pe.shape[1]

    def encodings(self, frames: int, positions: torch.Tensor | None = None) -> torch.Tensor:
        """(frames, C): frame ``i``'s encoding, or the encodings at ``positions`` (one per
        frame, fractional ones interpolated linearly between the table's rows) when given."""
        if positions is None:
            if frames > self.max_len:
                raise ValueError(
                    f"{frames} frames in one window, but this motion module supports at most {self.max_len}; "
                    "use a smaller context batch size"
                )
            return self.pe[0, :frames]
        return interpolated_rows(self.pe[0], positions)


class TemporalSelfAttention(nn.Module):
    """Multi-head self-attention across the frames of each spatial position.

    ``fuse_projections``: q, k and v come from one matmul with the three weights side by side
    (a wider matmul runs closer to the machine's peak). Whoever hooks the projections' own
    ``forward`` (a LoRA applied per call) turns it off, so each is called as a layer.
    """

    def __init__(self, channels: int, pe_len: int):
        super().__init__()
        self.heads = HEADS
        self.fuse_projections = True
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(channels, channels, bias=False)
        self.to_v = nn.Linear(channels, channels, bias=False)
        self.to_out = nn.Sequential(nn.Linear(channels, channels), nn.Dropout(0.0))
        self.pos_encoder = PositionalEncoding(channels, pe_len)

    def forward(self, x: torch.Tensor, frames: int, positions: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        """x: tokens (B·F, P, C), the P positions of each frame, which this overwrites (it is the
        block's fresh layer-norm output). ``temperature`` multiplies the logits' usual
        1/sqrt(head dim): above 1 each frame attends more sharply to the frames most like it."""
        x = rearrange(x, "(b f) p c -> b f p c", f=frames)
        x += rearrange(self.pos_encoder.encodings(frames, positions).to(x.dtype), "f c -> f 1 c")
        q, k, v = self._projections(x)
        scale = None if temperature == 1.0 else temperature / math.sqrt(q.shape[-1] // self.heads)
        # One video at a time, each position's frames are a strided view of the video's
        # tokens, so attention reads them in place and its output has the same frame-major memory.
        videos = [
            F.scaled_dot_product_attention(*(rearrange(t[video], "f p (h d) -> p h f d", h=self.heads) for t in (q, k, v)), scale=scale)
            for video in range(x.shape[0])
        ]
        return self.to_out(torch.cat([rearrange(out, "p h f d -> f p (h d)") for out in videos]))

    def _projections(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        layers = (self.to_q, self.to_k, self.to_v)
        if not self.fuse_projections:
            return tuple(layer(x) for layer in layers)
        return F.linear(x, torch.cat([layer.weight for layer in layers])).chunk(len(layers), dim=-1)


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # both halves are views of the projection's fresh output: gelu and the product are
        # written into it, and the next layer reads the strided half as it is
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value.mul_(torch.ops.aten.gelu_(gate))


class FeedForward(nn.Module):
    def __init__(self, channels: int, mult: int = 4):
        super().__init__()
        self.net = nn.Sequential(GEGLU(channels, channels * mult), nn.Dropout(0.0), nn.Linear(channels * mult, channels))

    def add_to_(self, residual: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``residual += feed_forward(x)``: the output layer's matmul accumulates into ``residual``."""
        geglu, _, output = self.net
        return add_linear_(residual, output, geglu(x))


class TemporalTransformerBlock(nn.Module):
    def __init__(self, channels: int, pe_len: int, attention_blocks: int = 2):
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalSelfAttention(channels, pe_len) for _ in range(attention_blocks)])
        self.norms = nn.ModuleList([nn.LayerNorm(channels) for _ in range(attention_blocks)])
        self.ff = FeedForward(channels)
        self.ff_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor, frames: int, positions: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        # x is fresh here (proj_in's output), and so is each attention's: sums go into them
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x), frames, positions, temperature).add_(x)
        return self.ff.add_to_(x, self.ff_norm(x))


class TemporalTransformer(nn.Module):
    def __init__(self, channels: int, pe_len: int, norm_mode: GroupNormMode, attention_blocks: int = 2):
        super().__init__()
        self.norm_mode = norm_mode
        self.norm = nn.GroupNorm(NORM_GROUPS, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, pe_len, attention_blocks)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, frames: int, positions: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        height, width = x.shape[-2:]
        norm = self.norm
        h = video_group_norm(x, frames, self.norm_mode, norm.num_groups, norm.weight, norm.bias, norm.eps)
        # Every layer after the norm acts per token, so the tokens are laid out once, frame by
        # frame (B·F, H·W, C), by proj_in's matmul reading each frame's (C, H·W) transposed;
        # the attention reads each position's frames from that layout as they lie.
        h = linear_of_channels_first(self.proj_in, h.flatten(2))
        for block in self.transformer_blocks:
            h = block(h, frames, positions, temperature)
        out = residual_plus_linear_channels_first(x.flatten(2), self.proj_out, h)
        return out.view(-1, out.shape[1], height, width)


class MotionModule(nn.Module):
    """One motion module as it sits in the UNet: (B·F, C, H, W) in, same shape out. Published
    modules have two temporal attentions; SparseCtrl's have one."""

    def __init__(self, channels: int, pe_len: int, norm_mode: GroupNormMode = GroupNormMode.PER_FRAME, attention_blocks: int = 2):
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, pe_len, norm_mode, attention_blocks)

    @property
    def channels(self) -> int:
        return self.temporal_transformer.proj_in.in_features

    @torch.no_grad()  # inference only: the layers write into their own fresh outputs
    def forward(self, x: torch.Tensor, frames: int, positions: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        """``positions``: where each frame sits in the positional encoding (None: frame ``i`` at
        ``i``; see :func:`stretched_positions`). ``temperature``: the temporal attention's
        (see :class:`TemporalSelfAttention`; 1 = as trained)."""
        if frames < 1 or x.shape[0] % frames:
            raise ValueError(f"a batch of {x.shape[0]} rows is not a whole number of {frames}-frame videos")
        weight = self.temporal_transformer.proj_in.weight
        return self.temporal_transformer(x.to(weight.dtype), frames, positions, temperature).to(x.dtype)


class MotionModuleGroup(nn.Module):
    """The motion modules of one UNet block (named ``motion_modules`` in published files)."""

    def __init__(self, channels: int, count: int, pe_len: int, norm_mode: GroupNormMode):
        super().__init__()
        self.motion_modules = nn.ModuleList([MotionModule(channels, pe_len, norm_mode) for _ in range(count)])


class MotionModuleSet(nn.Module):
    """All motion modules of one file, addressable by their published prefixes.

    ``channels`` lists the channels of each down level, shallowest first; up levels
    mirror them, deepest first (``up_blocks.0`` has the most channels).
    """

    def __init__(self, family: MotionModuleFamily, channels: Sequence[int], pe_len: int | None = None, name: str = ""):
        super().__init__()
        if len(channels) != family.levels:
            raise ValueError(f"{family.title} has {family.levels} levels, got channels for {len(channels)}")
        self.family = family
        self.name = name or family.name
        self.level_channels = tuple(int(c) for c in channels)
        self.pe_len = pe_len or family.pe_max_len
        norm = family.motion_groupnorm

        def group(c: int, count: int) -> MotionModuleGroup:
            return MotionModuleGroup(c, count, self.pe_len, norm)

        self.down_blocks = nn.ModuleList([group(c, MODULES_PER_DOWN_LEVEL) for c in self.level_channels])
        self.mid_block = group(self.level_channels[-1], 1) if family.has_mid_block else None
        self.up_blocks = nn.ModuleList([group(c, MODULES_PER_UP_LEVEL) for c in reversed(self.level_channels)])

    def blocks(self) -> Iterator[tuple[str, MotionModule]]:
        """(published prefix, module) for every motion module, down, mid, then up."""
        for kind in ("down_blocks", "mid_block", "up_blocks"):
            groups = getattr(self, kind)
            if groups is None:
                continue
            indexed = [("", groups)] if kind == "mid_block" else [(f".{i}", g) for i, g in enumerate(groups)]
            for suffix, grp in indexed:
                for j, module in enumerate(grp.motion_modules):
                    yield f"{kind}{suffix}.motion_modules.{j}", module

    def block(self, prefix: str) -> MotionModule:
        """The module under a published prefix such as ``down_blocks.0.motion_modules.1``."""
        try:
            module = self.get_submodule(prefix)
        except AttributeError:
            module = None
        if not isinstance(module, MotionModule):
            raise KeyError(f"{self.name} has no motion module {prefix!r}")
        return module

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def extra_repr(self) -> str:
        return f"family={self.family.name}, channels={self.level_channels}, pe_len={self.pe_len}"
