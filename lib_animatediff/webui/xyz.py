"""AnimateDiff axes for A1111's X/Y/Z plot.

An axis value is kept on the grid cell's own processing object (the plot copies it for every
cell), never in module state, and laid over the accordion's values when the job starts.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable

from .params import PARAMS, AnimateDiffParams, Param, from_text, is_true_or_false

OVERRIDES_ATTRIBUTE = "_animatediff_axis_values"
LABEL_PREFIX = "[AnimateDiff] "


@dataclass(frozen=True)
class Axis:
    label: str
    field: str
    kind: Callable[[Any], Any]
    choices: Callable[[], list[str]] | None = None
    img2img_only: bool = False


def _axis(name: str, param: Param) -> Axis:
    convert = functools.partial(from_text, name)
    if is_true_or_false(name):
        return Axis(param.xyz, name, convert, lambda: ["False", "True"], param.img2img_only)
    choices = (lambda values=tuple(param.choices): list(values)) if param.choices else None
    return Axis(param.xyz, name, convert, choices, param.img2img_only)


# Every field with an axis label in its facts (params.py), in field order.
AXES = tuple(_axis(name, param) for name, param in PARAMS.items() if param.xyz)


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
