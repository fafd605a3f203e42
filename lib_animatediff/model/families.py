"""The published motion-module families and what each needs at run time.

A family is identified from a file's keys alone (see ``detection.py``); everything that
differs between families when the module runs lives here, so the rest of the code asks
the family instead of comparing names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

MODULES_PER_DOWN_LEVEL = 2
MODULES_PER_UP_LEVEL = 3


class BaseModel(enum.Enum):
    """The Stable Diffusion generation a motion module was trained with."""

    SD15 = "SD 1.5"
    SDXL = "SDXL"

    @property
    def levels(self) -> int:
        """Resolution levels of this UNet (each has its own motion modules)."""
        return 4 if self is BaseModel.SD15 else 3

    @property
    def families_hint(self) -> str:
        return ", ".join(f.title for f in FAMILIES.values() if f.base is self)


class GroupNormMode(enum.Enum):
    """Which rows a GroupNorm takes its statistics over."""

    PER_FRAME = "per frame"
    # Statistics over all frames of one video, as if the tensor were (b, c, f, h, w).
    PER_VIDEO = "per video"


@dataclass(frozen=True)
class NoiseSchedule:
    """A 1000-step DDPM beta schedule, as AnimateDiff's training used it."""

    kind: str  # "linear" (betas linear) or "scaled_linear" (sqrt(betas) linear)
    beta_start: float
    beta_end: float
    steps: int = 1000

    def alphas_cumprod(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if self.kind == "linear":
            betas = torch.linspace(self.beta_start, self.beta_end, self.steps, dtype=torch.float64)
        elif self.kind == "scaled_linear":
            betas = torch.linspace(self.beta_start**0.5, self.beta_end**0.5, self.steps, dtype=torch.float64) ** 2
        else:
            raise ValueError(f"unknown beta schedule {self.kind!r}")
        return torch.cumprod(1.0 - betas, dim=0).to(dtype)

    def describe(self) -> str:
        return f"{self.kind} {self.beta_start}->{self.beta_end}"


SD15_ANIMATEDIFF_SCHEDULE = NoiseSchedule("linear", 0.00085, 0.012)
SDXL_ANIMATEDIFF_SCHEDULE = NoiseSchedule("scaled_linear", 0.00085, 0.020)
SDXL_STANDARD_SCHEDULE = NoiseSchedule("scaled_linear", 0.00085, 0.012)


@dataclass(frozen=True)
class MotionModuleFamily:
    """The facts about one published family that change how it is built and run."""

    name: str
    title: str
    base: BaseModel
    has_mid_block: bool
    pe_max_len: int
    # False where the published files carry no positional encoding and it is computed.
    pe_stored: bool
    trained_frames: int
    # GroupNorm of the UNet's ResBlocks (and its output norm) while this module is in.
    unet_groupnorm: GroupNormMode
    # GroupNorm at the entrance of each motion module.
    motion_groupnorm: GroupNormMode
    noise_schedule: NoiseSchedule

    @property
    def levels(self) -> int:
        return self.base.levels

    @property
    def default_context(self) -> int:
        """Frames per context window by default: as many as the module was trained on (16, and
        8 for HotShot-XL), as the official code and the other AnimateDiff tools use."""
        return min(self.trained_frames, self.pe_max_len)


V1 = MotionModuleFamily(
    name="v1",
    title="AnimateDiff v1",
    base=BaseModel.SD15,
    has_mid_block=False,
    pe_max_len=24,
    pe_stored=True,
    trained_frames=16,
    # v1 was trained with the UNet's ResBlock GroupNorms spanning all frames.
    unet_groupnorm=GroupNormMode.PER_VIDEO,
    motion_groupnorm=GroupNormMode.PER_FRAME,
    noise_schedule=SD15_ANIMATEDIFF_SCHEDULE,
)
V2 = MotionModuleFamily(
    name="v2",
    title="AnimateDiff v2",
    base=BaseModel.SD15,
    has_mid_block=True,
    pe_max_len=32,
    pe_stored=True,
    trained_frames=16,
    unet_groupnorm=GroupNormMode.PER_FRAME,
    motion_groupnorm=GroupNormMode.PER_FRAME,
    noise_schedule=SD15_ANIMATEDIFF_SCHEDULE,
)
V3 = MotionModuleFamily(
    name="v3",
    title="AnimateDiff v3",
    base=BaseModel.SD15,
    has_mid_block=False,
    pe_max_len=32,
    pe_stored=True,
    trained_frames=16,
    unet_groupnorm=GroupNormMode.PER_FRAME,
    motion_groupnorm=GroupNormMode.PER_FRAME,
    noise_schedule=SD15_ANIMATEDIFF_SCHEDULE,
)
ANIMATELCM = MotionModuleFamily(
    name="animatelcm",
    title="AnimateLCM",
    base=BaseModel.SD15,
    has_mid_block=True,
    pe_max_len=64,
    pe_stored=False,
    trained_frames=16,
    unet_groupnorm=GroupNormMode.PER_FRAME,
    motion_groupnorm=GroupNormMode.PER_FRAME,
    noise_schedule=SD15_ANIMATEDIFF_SCHEDULE,
)
SDXL = MotionModuleFamily(
    name="sdxl",
    title="AnimateDiff-SDXL",
    base=BaseModel.SDXL,
    has_mid_block=False,
    pe_max_len=32,
    pe_stored=True,
    trained_frames=16,
    unet_groupnorm=GroupNormMode.PER_FRAME,
    # The official SDXL-branch code normalises the 5-D (b, c, f, h, w) tensor, so the
    # weights were trained with statistics over all frames; we match the training code.
    motion_groupnorm=GroupNormMode.PER_VIDEO,
    noise_schedule=SDXL_ANIMATEDIFF_SCHEDULE,
)
HOTSHOTXL = MotionModuleFamily(
    name="hotshotxl",
    title="HotShot-XL",
    base=BaseModel.SDXL,
    has_mid_block=False,
    pe_max_len=24,
    pe_stored=True,
    trained_frames=8,
    unet_groupnorm=GroupNormMode.PER_VIDEO,
    motion_groupnorm=GroupNormMode.PER_FRAME,
    noise_schedule=SDXL_STANDARD_SCHEDULE,
)

FAMILIES: dict[str, MotionModuleFamily] = {f.name: f for f in (V1, V2, V3, ANIMATELCM, SDXL, HOTSHOTXL)}


def family_by_name(name: str) -> MotionModuleFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown motion-module family {name!r}; known: {', '.join(FAMILIES)}") from None
