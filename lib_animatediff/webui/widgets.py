"""The accordion's gradio components, built from the field table (:data:`..params.PARAMS`)
and the layout (:mod:`.accordion`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .accordion import Row, Section
from .params import PARAMS, AnimateDiffParams, api_name


def component(name: str, tab: str, value: Any) -> Any:
    """The gradio component of a field, from its facts."""
    param, widget = PARAMS[name], PARAMS[name].widget
    common = {"label": param.label, "elem_id": f"{tab}_animatediff_{api_name(name)}"}  # the API name: pages and clients address it
    choices = list(param.choices)
    return {
        "number": lambda: gr.Number(value, precision=widget.precision, **common),
        "slider": lambda: gr.Slider(widget.minimum, widget.maximum, value, step=widget.step, **common),
        "radio": lambda: gr.Radio(choices, value=value, **common),
        "dropdown": lambda: gr.Dropdown(choices, value=value, **common),
        "checkbox": lambda: gr.Checkbox(value, **common),
        "checkbox_group": lambda: gr.CheckboxGroup(choices, value=value, **common),
        "textbox": lambda: gr.Textbox(value, **common),
        "hidden": lambda: gr.Textbox(value, visible=False, **common),
        "image": lambda: gr.Image(type="pil", **common),
        "video": lambda: gr.Video(**common),
    }[widget.kind]()


def lay_out(items: tuple, tab: str, is_img2img: bool, defaults: AnimateDiffParams, made: dict[str, Any]) -> None:
    """The accordion's ``items`` (field names, rows, sections) as gradio components, each field's into ``made``."""
    for item in items:
        if isinstance(item, str):
            made[item] = component(item, tab, getattr(defaults, item))
        elif isinstance(item, Row):
            with gr.Row():
                lay_out(item.fields, tab, is_img2img, defaults, made)
        elif isinstance(item, Section):
            with gr.Accordion(item.title, open=False, visible=is_img2img or not item.img2img_only):
                lay_out(item.items, tab, is_img2img, defaults, made)
