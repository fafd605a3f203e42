"""Building a ``MotionModuleSet`` from a file or state dict, with a strict layout check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import MotionModuleLayoutError
from .detection import PE_SUFFIX, DetectedLayout, detect_layout, to_animatediff_naming
from .motion_module import MotionModuleSet, sinusoidal_positions
from .state_dict_io import StateDict, read_state_dict


@dataclass
class LayoutReport:
    """How a state dict's keys and shapes compare with its family's layout."""

    expected: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_shape: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape)

    def summary(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} of {self.expected} keys missing (first: {self.missing[0]})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected keys (first: {self.unexpected[0]})")
        if self.wrong_shape:
            key, want, got = self.wrong_shape[0]
            parts.append(f"{len(self.wrong_shape)} tensors of the wrong shape (first: {key} is {list(got)}, expected {list(want)})")
        return "; ".join(parts) or f"complete ({self.expected} keys)"


def build_empty(layout: DetectedLayout, name: str = "") -> MotionModuleSet:
    """A module set of the detected shape on the meta device: no memory, no initialisation."""
    with torch.device("meta"):
        return MotionModuleSet(layout.family, layout.level_channels, layout.pe_len, name=name)


def expected_shapes(module: MotionModuleSet, layout: DetectedLayout) -> dict[str, tuple[int, ...]]:
    """Key → shape that a published file of this layout holds."""
    shapes = {key: tuple(t.shape) for key, t in module.state_dict().items()}
    if not layout.family.pe_stored:
        shapes = {k: s for k, s in shapes.items() if not k.endswith(PE_SUFFIX)}
    return shapes


def check_layout(state_dict: StateDict, module: MotionModuleSet, layout: DetectedLayout) -> LayoutReport:
    want = expected_shapes(module, layout)
    report = LayoutReport(expected=len(want))
    report.missing = [key for key in want if key not in state_dict]
    report.unexpected = [key for key in state_dict if key not in want]
    report.wrong_shape = [
        (key, shape, tuple(state_dict[key].shape))
        for key, shape in want.items()
        if key in state_dict and tuple(state_dict[key].shape) != shape
    ]
    return report


def load_motion_module(source: str | Path | StateDict, name: str | None = None) -> MotionModuleSet:
    """A motion module set from a file path or a state dict, its family detected from the keys.

    Loading is strict: a key missing, left over or of the wrong shape is an error naming it.
    Tensors keep their dtype and device (meta tensors give a meta module, for layout checks).
    """
    if isinstance(source, (str, Path)):
        name = name or Path(source).name
        state_dict = read_state_dict(source)
    else:
        name = name or "motion module"
        state_dict = source
    layout = detect_layout(state_dict, name)
    if layout.naming == "hotshot":
        state_dict = to_animatediff_naming(state_dict)
    module = build_empty(layout, name)
    report = check_layout(state_dict, module, layout)
    if not report.complete:
        raise MotionModuleLayoutError(f"{name}: not a complete {layout.family.title} motion module: {report.summary()}")
    if not layout.family.pe_stored:
        state_dict = dict(state_dict) | _computed_positions(module, state_dict)
    module.load_state_dict(state_dict, strict=True, assign=True)
    return module.requires_grad_(False).eval()


def _computed_positions(module: MotionModuleSet, state_dict: StateDict) -> StateDict:
    sample = next(iter(state_dict.values()))
    positions = {}
    for key, buffer in module.state_dict().items():
        if key.endswith(PE_SUFFIX):
            _, length, channels = buffer.shape
            positions[key] = sinusoidal_positions(length, channels).to(sample.device, sample.dtype)
    return positions
