"""The motion modules inside a SparseCtrl model (AnimateDiff v3's sparse ControlNet).

SparseCtrl is a ControlNet whose eight down-block layers are each followed by a motion
module with one temporal attention (published modules have two), under
``down_blocks.{0..3}.motion_modules.{0,1}``: 320, 640, 1280 and 1280 channels, positional
encodings 32 frames long. sd-webui-controlnet builds the model, asks for these modules by that
layout, and appends each to its own input blocks, where it calls them as plain layers,
``layer(x)``: the frame count of the rows in ``x`` is not passed, so each module asks the
running job for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from .families import GroupNormMode
from .motion_module import MotionModule

SPARSECTRL_CHANNELS = (320, 640, 1280, 1280)
SPARSECTRL_PE_LEN = 32
MODULES_PER_LEVEL = 2


FramesNow = Callable[[], int]  # the frames per video of the model call now running; raises outside a job


class SelfFramingMotionModule(MotionModule):
    """A motion module called as a plain layer, ``layer(x)``, that asks for its frame count."""

    def __init__(self, channels: int, frames_now: FramesNow):
        super().__init__(channels, SPARSECTRL_PE_LEN, GroupNormMode.PER_FRAME, attention_blocks=1)
        self.frames_now = frames_now

    def forward(self, x: torch.Tensor, *_: Any) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, self.frames_now())


class _Level(nn.Module):
    def __init__(self, channels: int, frames_now: FramesNow):
        super().__init__()
        self.motion_modules = nn.ModuleList([SelfFramingMotionModule(channels, frames_now) for _ in range(MODULES_PER_LEVEL)])


class SparseCtrlMotionModules(nn.Module):
    """``down_blocks[i].motion_modules[j]`` of a SparseCtrl file, loaded by its published keys."""

    def __init__(self, frames_now: FramesNow):
        super().__init__()
        self.down_blocks = nn.ModuleList([_Level(channels, frames_now) for channels in SPARSECTRL_CHANNELS])

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """The file's ``down_blocks.*`` keys as published; positional encodings a file leaves out
        (they are fixed sinusoids, and some converters drop them) keep their computed values."""
        own = self.state_dict()
        complete = {**{key: value for key, value in own.items() if key.endswith(".pos_encoder.pe")}, **state_dict}
        return super().load_state_dict(complete, strict=strict, assign=assign)
