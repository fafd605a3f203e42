"""X/Y/Z plot axes: values live on each cell's own copy of p and are validated like the API's."""

from __future__ import annotations

from copy import copy
from types import SimpleNamespace

import pytest

from lib_animatediff.webui.params import PARAMS, AnimateDiffParams, ParameterError
from lib_animatediff.webui.xyz import AXES, apply_axis_value, with_axis_values


def test_cells_copied_from_one_p_do_not_share_their_values():
    p = SimpleNamespace()
    apply_axis_value(p, "fps", 12)
    first, second = copy(p), copy(p)  # as the plot makes its cells
    apply_axis_value(first, "video_length", 24)
    apply_axis_value(second, "video_length", 32)
    base = AnimateDiffParams(enable=True, model="m.ckpt")
    assert (with_axis_values(base, first).video_length, with_axis_values(base, second).video_length) == (24, 32)
    assert with_axis_values(base, first).fps == 12 and with_axis_values(base, p).video_length == base.video_length
    assert with_axis_values(base, SimpleNamespace()) is base


def test_axis_values_are_validated_like_api_arguments():
    p = SimpleNamespace()
    apply_axis_value(p, "dilation_levels", 0)
    with pytest.raises(ParameterError, match="stride"):
        with_axis_values(AnimateDiffParams(enable=True), p)


def test_axes_name_real_fields_and_convert_text():
    fields = set(PARAMS)
    assert all(axis.field in fields for axis in AXES)
    assert {"enable", "model", "video_length", "fps", "frames_per_window", "dilation_levels", "overlap", "closed_loop", "interp", "interp_x"} <= {
        axis.field for axis in AXES
    }
    axis = {axis.field: axis for axis in AXES}
    assert axis["enable"].kind("True") is True and axis["enable"].kind("0") is False
    assert axis["video_length"].kind("8") == 8 and axis["motion_attention_scale"].kind("0.5") == 0.5
    assert axis["model"].kind("mm.ckpt") == "mm.ckpt"
    with pytest.raises(ValueError):
        axis["enable"].kind("maybe")
    with pytest.raises(ValueError):
        axis["video_length"].kind("many")
    closed_loop = next(axis for axis in AXES if axis.field == "closed_loop")
    assert closed_loop.choices() == ["N", "R-P", "R+P", "A"]
