"""The parameter type accepts sd-webui-animatediff's API dicts and names what is wrong."""

from __future__ import annotations

import pytest

from lib_animatediff.webui.params import AnimateDiffParams, ParameterError

SD_WEBUI_ANIMATEDIFF_FIELDS = [
    "model", "enable", "video_length", "fps", "loop_number", "closed_loop", "batch_size", "stride", "overlap",
    "format", "interp", "interp_x", "video_source", "video_path", "mask_path", "latent_power", "latent_scale",
    "last_frame", "latent_power_last", "latent_scale_last", "request_id",
    "freeinit_enable", "freeinit_filter", "freeinit_ds", "freeinit_dt", "freeinit_iters",
]  # fmt: skip


def test_every_sd_webui_animatediff_field_is_accepted():
    assert set(SD_WEBUI_ANIMATEDIFF_FIELDS) <= set(AnimateDiffParams.api_names())


def test_api_dict_first_then_ui_defaults_uses_the_dict():
    params = AnimateDiffParams.from_args(({"enable": True, "video_length": 24, "format": "gif"}, "ignored", 3))
    assert params.enable and params.video_length == 24 and params.format == ["GIF"]


def test_positional_ui_values_map_in_field_order():
    params = AnimateDiffParams.from_args(("mm.ckpt", True, 12, 10.0, 0, "A", 8, 2, 2, ["GIF"]))
    assert (params.model, params.video_length, params.fps, params.closed_loop, params.frames_per_window, params.dilation_levels) == ("mm.ckpt", 12, 10, "A", 8, 2)


@pytest.mark.parametrize(
    "values, field, expected",
    [
        ({"enabled": True}, "enabled", "unknown"),
        ({"video_length": "16"}, "video_length", "number"),
        ({"video_length": 2.5}, "video_length", "whole number"),
        ({"enable": "yes"}, "enable", "true or false"),
        ({"closed_loop": "X"}, "closed_loop", "R-P"),
        ({"stride": 0}, "stride", "whole number >= 1"),
        ({"format": ["GIF", "AVI"]}, "format", "MP4"),
        ({"fps": -1}, "fps", ">= 0"),
        ({"overlap": -2}, "overlap", "-1"),
        ({"model": 5}, "model", "text"),
    ],
)
def test_bad_values_name_the_field_and_what_was_expected(values, field, expected):
    with pytest.raises(ParameterError) as error:
        AnimateDiffParams.from_dict(values)
    assert repr(field) in str(error.value) and expected in str(error.value)


def test_too_many_positional_values_are_refused():
    with pytest.raises(ParameterError, match="at most"):
        AnimateDiffParams.from_args(tuple(range(100)))


def test_a_lone_switch_first_is_the_enable_flag_as_webuiapi_sends_it():
    # webuiapi sends {"args": [False]} to every WebUI with an AnimateDiff script; A1111 appends
    # the accordion's own values after it
    off = AnimateDiffParams.from_args((False, False, 16, 8, 0, "R-P"))
    assert off.enable is False and off.model == "" and off.video_length == AnimateDiffParams().video_length
    assert AnimateDiffParams.from_args((True,)).enable is True


def test_api_names_are_aliases_of_the_fields_named_for_what_they_are():
    by_api = AnimateDiffParams.from_dict({"batch_size": 8, "stride": 2})
    by_field = AnimateDiffParams.from_dict({"frames_per_window": 8, "dilation_levels": 2})
    assert by_api == by_field and (by_api.frames_per_window, by_api.dilation_levels) == (8, 2)
    with pytest.raises(ParameterError, match="'batch_size' is given twice"):
        AnimateDiffParams.from_dict({"batch_size": 8, "frames_per_window": 8})
    with pytest.raises(ParameterError, match="'stride' must be"):  # the name the client sent
        AnimateDiffParams.from_dict({"dilation_levels": 0})
