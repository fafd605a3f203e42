"""AnimateDiff axes for A1111's X/Y/Z plot.

An axis value is kept on the grid cell's own processing object (the plot copies it for every
cell), never in module state, and laid over the accordion's values when the job starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from .params import PARAMS, AnimateDiffParams, Param

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


def _axis(name: str, param: Param, kind: str) -> Axis:
    if kind == "bool":
        return Axis(param.xyz, name, to_bool, lambda: ["False", "True"], param.img2img_only)
    convert = to_number if kind in ("int", "float") else str
    choices = (lambda values=tuple(param.choices): list(values)) if param.choices else None
    return Axis(param.xyz, name, convert, choices, param.img2img_only)


# Every field with an axis label in its facts (params.py), in field order.
AXES = tuple(_axis(f.name, PARAMS[f.name], f.type) for f in dataclasses.fields(AnimateDiffParams) if PARAMS[f.name].xyz)


def apply_axis_value(p: Any, field: str, value: Any) -> None:
    """Record an axis value on one cell's processing object. A new dict each time: the plot's
    copies of ``p`` are shallow, and the cells must not share their values."""
    setattr(p, OVERRIDES_ATTRIBUTE, {**getattr(p, OVERRIDES_ATTRIBUTE, {}), field: value})


def with_axis_values(params: AnimateDiffParams, p: Any) -> AnimateDiffParams:
    """``params`` with the cell's axis values laid over them, validated again."""
    values = getattr(p, OVERRIDES_ATTRIBUTE, None)
    if not values:
        return params
    return dataclasses.replace(params, **values)
