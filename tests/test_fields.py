"""Each field's facts are written once (params.py); the accordion, its hints, the infotext, paste-back
and the X/Y/Z axes are built from them and together cover every field."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from lib_animatediff.webui.accordion import HEADER, LAYOUT, accordion_layout, laid_out_fields
from lib_animatediff.webui.hints import hints, hints_js
from lib_animatediff.webui.params import PARAMS, AnimateDiffParams
from lib_animatediff.webui.xyz import AXES

REPO = Path(__file__).resolve().parents[1]
# sd-webui-animatediff's positional order (its AnimateDiffProcess), which API clients may send
SWA_ORDER = [
    "model", "enable", "video_length", "fps", "loop_number", "closed_loop", "batch_size", "stride", "overlap", "format", "interp",
    "interp_x", "video_source", "video_path", "mask_path", "freeinit_enable", "freeinit_filter", "freeinit_ds", "freeinit_dt",
    "freeinit_iters", "latent_power", "latent_scale", "last_frame", "latent_power_last", "latent_scale_last", "request_id",
]  # fmt: skip
# this extension's fields after them, in the order they were released: a new field goes last,
# so positional lists sent to an earlier version keep their meaning
RELEASED_ORDER = [
    "fuse", "travel_interp", "freenoise", "context_schedule", "pe_stretch", "motion_scale", "motion_start", "motion_end",
    "motion_attention_scale",
]  # fmt: skip


def test_every_field_has_its_facts_and_the_positional_order_is_sd_webui_animatediffs():
    assert list(PARAMS) == [f.name for f in dataclasses.fields(AnimateDiffParams)]
    names = AnimateDiffParams.api_names()
    assert names[: len(SWA_ORDER)] == SWA_ORDER
    assert names[len(SWA_ORDER) : len(SWA_ORDER) + len(RELEASED_ORDER)] == RELEASED_ORDER
    for name, param in PARAMS.items():
        assert param.label and param.hint, name
        assert param.check is None or param.expected, f"{name}: a check needs the words for its error message"


def test_the_accordion_shows_every_field_exactly_once():
    shown = [*HEADER, *laid_out_fields(accordion_layout(list(PARAMS)))]
    assert Counter(shown) == Counter(list(PARAMS)), "a field is missing from the accordion or shown twice"
    assert set(laid_out_fields(LAYOUT)) | set(HEADER) == set(PARAMS), "today every field has its place in LAYOUT"
    extended = list(laid_out_fields(accordion_layout([*PARAMS, "new_field"])))
    assert extended[-1] == "new_field"  # a new field shows up without a layout entry


def test_labels_hints_infotext_keys_and_axes_are_unique():
    for kind, values in (
        ("label", [p.label for p in PARAMS.values()]),
        ("infotext key", [p.infotext for p in PARAMS.values() if p.infotext]),
        ("axis", [axis.label for axis in AXES]),
    ):
        assert len(values) == len(set(values)), f"a {kind} is used twice: {sorted(v for v, n in Counter(values).items() if n > 1)}"
    assert {axis.field for axis in AXES} == {name for name, p in PARAMS.items() if p.xyz}
    assert all(hints()[p.label] == p.hint for p in PARAMS.values() if p.widget.kind != "hidden")


def test_the_hints_file_is_generated_from_the_fields():
    shipped = (REPO / "javascript" / "animatediff_hints.js").read_text(encoding="utf-8")
    assert shipped == hints_js(), "regenerate it: .venv/bin/python -m lib_animatediff.webui.hints > javascript/animatediff_hints.js"


def test_choices_validate_and_axes_offer_them():
    for name, param in PARAMS.items():
        for choice in param.choices:
            assert param.allows([choice] if name == "format" else choice), (name, choice)
    assert not PARAMS["format"].allows(["GIF", "AVI"]) and not PARAMS["format"].allows([])
    closed_loop = next(axis for axis in AXES if axis.field == "closed_loop")
    assert closed_loop.choices() == ["N", "R-P", "R+P", "A"]
