"""The API as sd-webui-animatediff clients use it: encoded videos in ``images``, a list of the
files written in ``info``, and the ``webuiapi`` client from PyPI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from webui_api import MOTION_MODULE, WebUIServer, animatediff, assert_animation, describe, run_job, txt2img_payload

OUTPUTS_KEY = "AnimateDiff outputs"


def test_images_carry_the_encoded_videos_then_the_frames(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(format=["GIF", "MP4", "WEBP", "PNG"])))
    assert_animation(job, server, frames=8)
    videos = job.response.videos()
    assert [video[:4] for video in videos] == [b"GIF8", videos[1][:4], b"RIFF"] and videos[1][4:8] == b"ftyp", [v[:12] for v in videos]
    assert videos[0] == job.gifs[0].read_bytes()
    written = job.response.info()["extra_generation_params"][OUTPUTS_KEY]
    by_format = {entry["format"]: entry for entry in written if entry["format"] != "PNG"}
    assert set(by_format) == {"GIF", "MP4", "WEBP"} and sum(entry["format"] == "PNG" for entry in written) == 8
    gif = by_format["GIF"]
    assert gif["images_index"] == 0 and gif["frames"] == 8 and gif["fps"] == 8
    assert (server.data_dir / "outputs" / gif["path"]).resolve() == job.gifs[0].resolve()


def test_without_png_only_the_videos_come_back(server: WebUIServer) -> None:
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(format=["GIF"])))
    assert job.response.ok and len(job.gifs) == 1, describe(job, server)
    assert job.response.images() == [] and job.response.videos() == [job.gifs[0].read_bytes()]


@pytest.fixture(scope="module")
def client(server: WebUIServer):
    webuiapi = pytest.importorskip("webuiapi", reason="the webuiapi client is not installed (requirements-test.txt)")
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return webuiapi, webuiapi.WebUIApi(host=host, port=int(port), sampler="Euler", steps=2)


def test_webuiapi_plain_requests_keep_working_beside_the_extension(client) -> None:
    webuiapi, api = client
    assert api.has_animatediff  # so it sends AnimateDiff {"args": [False]} with every request
    result = api.txt2img(prompt="a red ball", seed=1234, width=64, height=64)
    assert len(result.images) == 1 and result.images[0].size == (64, 64)


def test_webuiapi_animatediff_request_returns_the_gif(client, server: WebUIServer) -> None:
    webuiapi, api = client
    settings = webuiapi.AnimateDiff(model=MOTION_MODULE, video_length=8, batch_size=8, closed_loop="N", format=["GIF"])
    result = api.txt2img(prompt="a red ball", seed=1234, width=64, height=64, animatediff=settings)
    assert len(result.images) == 1, result.json.get("info", "")[:500]
    gif = result.images[0]
    assert gif.format == "GIF" and gif.n_frames == 8 and gif.size == (64, 64)
    written = result.info["extra_generation_params"][OUTPUTS_KEY]
    path = Path(server.data_dir) / "outputs" / written[0]["path"]
    assert written[0]["format"] == "GIF" and Image.open(io.BytesIO(path.read_bytes())).n_frames == 8
