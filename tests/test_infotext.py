"""The AnimateDiff infotext entry, built from the fields' facts, and what pasting it back fills in."""

from __future__ import annotations

import json

import pytest

from lib_animatediff.errors import ParameterError
from lib_animatediff.webui.infotext import animatediff_infotext, parse_animatediff_infotext, paste_reader, pasted_values
from lib_animatediff.webui.params import PARAMS, AnimateDiffParams


def test_written_entry_reads_back_into_the_same_params():
    params = AnimateDiffParams(
        model="mm_sd_v15_v2.ckpt", enable=True, video_length=24, fps=12, frames_per_window=16, dilation_levels=2, overlap=3, closed_loop="A"
    )
    text = animatediff_infotext(params, "0123456789", "1.2.3")
    assert text.startswith("model: mm_sd_v15_v2.ckpt, model hash: 0123456789, frames: 24, fps: 12, closed loop: A, context: 16, ")
    assert text.endswith("version: 1.2.3")
    assert parse_animatediff_infotext(text) == {
        "model": "mm_sd_v15_v2.ckpt", "video_length": 24, "fps": 12, "frames_per_window": 16, "dilation_levels": 2, "overlap": 3, "closed_loop": "A",
        "fuse": "flat", "travel_interp": "slerp",
    }  # fmt: skip
    assert "interp" not in text and "latent" not in text and "freeinit" not in text
    restored = AnimateDiffParams.from_dict({"enable": True, **parse_animatediff_infotext(text)})
    assert (restored.video_length, restored.closed_loop, restored.overlap) == (24, "A", 3)


def test_every_recorded_field_round_trips():
    """Each field with an infotext key comes back from a written entry as it was (where it applies)."""
    params = AnimateDiffParams(
        model="sub/mm, take 2: final.ckpt", enable=True, video_length=7, fps=9, frames_per_window=5, dilation_levels=3, overlap=1, closed_loop="R+P",
        interp="FILM", interp_x=3, freeinit_enable=True, freeinit_filter="gaussian", freeinit_ds=0.5, freeinit_dt=0.125,
        freeinit_iters=4, latent_power=1.5, latent_scale=16.0, latent_power_last=2.0, latent_scale_last=8.0, fuse="pyramid",
        travel_interp="lerp", freenoise=True, context_schedule="static", pe_stretch=24, motion_scale="0-3: 1.2, 6: 0.5",
        motion_start=0.1, motion_end=0.9, motion_attention_scale=1.25,
    )  # fmt: skip
    values = pasted_values({"AnimateDiff": animatediff_infotext(params, "h", "0.2.0", img2img=True)})
    for name, param in PARAMS.items():
        if param.infotext:
            assert values[name] == getattr(params, name), name
    assert values["enable"] is True and values["freeinit_enable"] is True


def test_fields_are_recorded_where_they_apply():
    plain = animatediff_infotext(AnimateDiffParams(), "h", "1")
    assert "interp" not in plain and "latent" not in plain and "freeinit" not in plain
    assert "latent power: 1.0" in animatediff_infotext(AnimateDiffParams(), "h", "1", img2img=True)
    assert "interp x: 10" in animatediff_infotext(AnimateDiffParams(interp="FILM"), "h", "1")
    assert "freeinit passes: 3" in animatediff_infotext(AnimateDiffParams(freeinit_enable=True), "h", "1")


def test_paste_fills_the_accordion_and_leaves_other_images_alone():
    infotext = {"AnimateDiff": "model: m.safetensors, frames: 8, fps: 8", "Steps": "20"}
    values = pasted_values(infotext)
    assert values["enable"] is True and values["freeinit_enable"] is False and values["interp"] == "Off"
    assert pasted_values({"Steps": "20"}) == {}
    assert paste_reader("fps")(infotext) == 8 and paste_reader("fps")({"Steps": "20"}) is None
    assert paste_reader("dilation_levels")(infotext) is None  # not recorded: the accordion keeps its value


def test_the_separate_freeinit_entry_of_0_1_pastes_back():
    infotext = {"AnimateDiff": "model: m.safetensors, frames: 8, version: 0.1.0", "FreeInit": "gaussian d_s=0.5 d_t=0.125 iterations=4"}
    values = pasted_values(infotext)
    assert (values["freeinit_enable"], values["freeinit_filter"], values["freeinit_ds"], values["freeinit_dt"], values["freeinit_iters"]) == (
        True, "gaussian", 0.5, 0.125, 4,
    )  # fmt: skip
    with pytest.raises(ParameterError, match="FreeInit"):
        pasted_values({"AnimateDiff": "model: m", "FreeInit": "gaussian, strong"})


def test_sd_webui_animatediffs_json_entry_pastes_back():
    swa = {"enable": True, "model": "mm_sd15_v3.safetensors", "video_length": 16, "fps": 8, "closed_loop": "R-P", "batch_size": 16,
           "stride": 1, "overlap": -1, "interp": "Off", "interp_x": 10, "freeinit_enable": False, "mm_hash": "abcd1234"}  # fmt: skip
    values = pasted_values({"AnimateDiff": json.dumps(swa)})
    assert values["model"] == "mm_sd15_v3.safetensors" and values["video_length"] == 16 and "mm_hash" not in values
    AnimateDiffParams.from_dict(values)  # every value is a valid argument


def test_a_broken_number_is_a_clear_error():
    with pytest.raises(ParameterError, match="frames 'many'"):
        parse_animatediff_infotext("model: m, frames: many")


def test_names_with_commas_and_colons_survive():
    text = animatediff_infotext(AnimateDiffParams(model="mm, take 2: final.ckpt", fps=12), "0123456789", "1.0")
    values = parse_animatediff_infotext(text)
    assert values["model"] == "mm, take 2: final.ckpt" and values["fps"] == 12 and values["video_length"] == 16


def test_entries_written_before_0_2_0_paste_back_in_todays_meanings():
    old = (
        "model: m.ckpt, frames: 16, stride: 4, latent power: 2.0, latent scale: 4.0, "
        "latent power last: 1.0, latent scale last: 8.0, version: 0.1.0"
    )
    values = pasted_values({"AnimateDiff": old})
    assert values["dilation_levels"] == 3  # largest dilation 4 → three levels 1, 2, 4
    assert values["latent_scale"] == 16.0 and values["latent_scale_last"] == 8.0  # 1 - (i/4)^2 = 1 - i^2/16
    new = old.replace("version: 0.1.0", "version: 0.2.0")
    assert pasted_values({"AnimateDiff": new})["dilation_levels"] == 4 and pasted_values({"AnimateDiff": new})["latent_scale"] == 4.0
    unversioned = old.replace(", version: 0.1.0", "")
    assert pasted_values({"AnimateDiff": unversioned})["dilation_levels"] == 4
