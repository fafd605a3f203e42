"""AnimateDiff axes for A1111's X/Y/Z plot.

An axis value is kept on the grid cell's own processing object (the plot copies it for every
cell), never in module state, and laid over the accordion's values when the job starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from .context import ClosedLoop
from .params import INTERP_MODES, AnimateDiffParams

OVERRIDES_ATTRIBUTE = "_animatediff_axis_values"
LABEL_PREFIX = "[AnimateDiff] "


def to_bool(text: Any) -> bool:
    value = str(text).strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"not true or false: {text!r}")


def to_number(text: Any) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


@dataclass(frozen=True)
class Axis:
    label: str
    field: str
    kind: Callable[[Any], Any]
    choices: Callable[[], list[str]] | None = None
    img2img_only: bool = False


AXES = (
    Axis("Enabled", "enable", to_bool, lambda: ["False", "True"]),
    Axis("Motion module", "model", str),
    Axis("Frames", "video_length", to_number),
    Axis("FPS", "fps", to_number),
    Axis("Context batch size", "batch_size", to_number),
    Axis("Stride", "stride", to_number),
    Axis("Overlap", "overlap", to_number),
    Axis("Closed loop", "closed_loop", str, lambda: [mode.value for mode in ClosedLoop]),
    Axis("Frame interpolation", "interp", str, lambda: list(INTERP_MODES)),
    Axis("Interp X", "interp_x", to_number),
    Axis("Latent power", "latent_power", to_number, img2img_only=True),
    Axis("Latent scale", "latent_scale", to_number, img2img_only=True),
    Axis("Latent power (last frame)", "latent_power_last", to_number, img2img_only=True),
    Axis("Latent scale (last frame)", "latent_scale_last", to_number, img2img_only=True),
)


def apply_axis_value(p: Any, field: str, value: Any) -> None:
    """Record an axis value on one cell's processing object. A new dict each time: the plot's
    copies of ``p`` are shallow, and the cells must not share their values."""
    setattr(p, OVERRIDES_ATTRIBUTE, {**getattr(p, OVERRIDES_ATTRIBUTE, {}), field: value})


def with_axis_values(params: AnimateDiffParams, p: Any) -> AnimateDiffParams:
    """``params`` with the cell's axis values laid over them, validated again."""
    values = getattr(p, OVERRIDES_ATTRIBUTE, None)
    if not values:
        return params
    current = {field.name: getattr(params, field.name) for field in dataclasses.fields(params)}
    return AnimateDiffParams.from_dict({**current, **values})
