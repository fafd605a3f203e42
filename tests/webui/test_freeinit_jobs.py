"""FreeInit in a real WebUI: passes that change the video, infotext, timestep samplers, img2img."""

from __future__ import annotations

from webui_api import WebUIServer, animatediff, assert_animation, describe, img2img_payload, mean_abs_diff, run_job, txt2img_payload

FREEINIT = {"freeinit_enable": True, "freeinit_filter": "butterworth", "freeinit_ds": 0.25, "freeinit_dt": 0.25, "freeinit_iters": 2}


def test_freeinit_reinitialises_the_video_and_records_itself_in_infotext(server: WebUIServer) -> None:
    plain = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff()))
    freeinit = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**FREEINIT)))
    assert_animation(plain, server, frames=8)
    assert_animation(freeinit, server, frames=8)
    assert min(mean_abs_diff(a, b) for a, b in zip(freeinit.frames, plain.frames)) > 0.5, "the second pass did not start anew"
    infotext = freeinit.response.info()["infotexts"][0]
    assert "freeinit filter: butterworth, freeinit d_s: 0.25, freeinit d_t: 0.25, freeinit passes: 2" in infotext, infotext
    assert "freeinit" not in plain.response.info()["infotexts"][0]
    # one pass is plain sampling
    one_pass = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**{**FREEINIT, "freeinit_iters": 1})))
    assert_animation(one_pass, server, frames=8)
    assert max(mean_abs_diff(a, b) for a, b in zip(one_pass.frames, plain.frames)) == 0.0


def test_freeinit_with_a_timestep_sampler_and_in_img2img(server: WebUIServer) -> None:
    ddim = run_job(server, "txt2img", txt2img_payload(sampler_name="DDIM", alwayson_scripts=animatediff(**{**FREEINIT, "freeinit_filter": "gaussian"})))
    assert_animation(ddim, server, frames=8)
    img2img = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(**{**FREEINIT, "freeinit_filter": "box"})))
    assert_animation(img2img, server, frames=8)


def test_bad_freeinit_settings_are_a_clear_error(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(**{**FREEINIT, "freeinit_filter": "median"})))
    assert job.response.status >= 400 and not job.gifs, describe(job, server)
    assert "freeinit_filter" in job.response.text and "butterworth" in job.response.text, job.response.text[:800]
