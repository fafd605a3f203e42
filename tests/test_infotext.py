"""The AnimateDiff infotext entry, and what pasting it back fills in."""

from __future__ import annotations

import pytest

from lib_animatediff.freeinit import FreeInitSettings, freeinit_infotext
from lib_animatediff.infotext import animatediff_infotext, parse_animatediff_infotext, paste_reader, pasted_values
from lib_animatediff.params import AnimateDiffParams, ParameterError


def test_written_entry_reads_back_into_the_same_params():
    params = AnimateDiffParams(model="mm_sd_v15_v2.ckpt", enable=True, video_length=24, fps=12, stride=2, overlap=3, closed_loop="A")
    text = animatediff_infotext(params, "mm_sd_v15_v2.ckpt", "0123456789", 24, 16, "1.2.3")
    assert parse_animatediff_infotext(text) == {
        "model": "mm_sd_v15_v2.ckpt", "video_length": 24, "fps": 12, "batch_size": 16, "stride": 2, "overlap": 3, "closed_loop": "A",
    }  # fmt: skip
    assert "interp" not in text and "latent" not in text
    restored = AnimateDiffParams.from_dict({"enable": True, **parse_animatediff_infotext(text)})
    assert (restored.video_length, restored.closed_loop, restored.overlap) == (24, "A", 3)


def test_paste_fills_freeinit_and_leaves_other_images_alone():
    settings = FreeInitSettings(True, "gaussian", 0.5, 0.125, 4)
    infotext = {"AnimateDiff": "model: m.safetensors, frames: 8, fps: 8", "FreeInit": freeinit_infotext(settings), "Steps": "20"}
    values = pasted_values(infotext)
    assert values["enable"] is True and values["freeinit_enable"] is True
    assert (values["freeinit_filter"], values["freeinit_ds"], values["freeinit_dt"], values["freeinit_iters"]) == (
        "gaussian",
        0.5,
        0.125,
        4,
    )
    assert pasted_values({"Steps": "20"}) == {}
    assert paste_reader("fps")(infotext) == 8 and paste_reader("fps")({"Steps": "20"}) is None
    without = pasted_values({"AnimateDiff": "model: m.safetensors"})
    assert without["freeinit_enable"] is False and paste_reader("stride")({"AnimateDiff": "model: m.safetensors"}) is None


def test_a_broken_number_is_a_clear_error():
    with pytest.raises(ParameterError, match="frames 'many'"):
        parse_animatediff_infotext("model: m, frames: many")


def test_interpolation_and_img2img_latent_settings_are_recorded_when_they_apply():
    params = AnimateDiffParams(enable=True, interp="FILM", interp_x=3, latent_power=1.5, latent_scale=16.0, latent_power_last=2.0)
    text = animatediff_infotext(params, "m.ckpt", "0123456789", 16, 16, "1", img2img=True)
    values = parse_animatediff_infotext(text)
    assert (values["interp"], values["interp_x"]) == ("FILM", 3)
    assert (values["latent_power"], values["latent_scale"], values["latent_power_last"], values["latent_scale_last"]) == (
        1.5,
        16.0,
        2.0,
        32.0,
    )
    assert pasted_values({"AnimateDiff": "model: m.ckpt"})["interp"] == "Off"  # an old entry means no interpolation


def test_names_with_commas_and_colons_survive():
    params = AnimateDiffParams(enable=True, fps=12)
    text = animatediff_infotext(params, "mm, take 2: final.ckpt", "0123456789", 16, 16, "1.0")
    values = parse_animatediff_infotext(text)
    assert values["model"] == "mm, take 2: final.ckpt" and values["fps"] == 12 and values["video_length"] == 16


def test_entries_written_before_0_2_0_paste_back_in_todays_meanings():
    old = (
        "model: m.ckpt, frames: 16, stride: 4, latent power: 2.0, latent scale: 4.0, "
        "latent power last: 1.0, latent scale last: 8.0, version: 0.1.0"
    )
    values = pasted_values({"AnimateDiff": old})
    assert values["stride"] == 3  # largest dilation 4 → three levels 1, 2, 4
    assert values["latent_scale"] == 16.0 and values["latent_scale_last"] == 8.0  # 1 - (i/4)^2 = 1 - i^2/16
    new = old.replace("version: 0.1.0", "version: 0.2.0")
    assert pasted_values({"AnimateDiff": new})["stride"] == 4 and pasted_values({"AnimateDiff": new})["latent_scale"] == 4.0
    unversioned = old.replace(", version: 0.1.0", "")
    assert pasted_values({"AnimateDiff": unversioned})["stride"] == 4
