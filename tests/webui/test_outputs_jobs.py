"""Output formats, Interp X and video input in a real WebUI (see conftest.py)."""

from __future__ import annotations

import re

import imageio_ffmpeg
import numpy as np
from PIL import Image
from webui_api import (
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    img2img_payload,
    run_job,
    txt2img_payload,
)

from lib_animatediff.media.writers import Mp4Writer, VideoMeta


def test_every_format_is_written_beside_the_gif(server: WebUIServer) -> None:
    formats = ["GIF", "MP4", "WEBM", "WEBP", "PNG", "TXT"]
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(format=formats)))
    assert_animation(job, server, frames=8)
    gif = job.gifs[0]
    stem, folder = gif.stem, gif.parent
    for suffix in (".mp4", ".webm"):
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(folder / f"{stem}{suffix}"))
        assert frames == 8, suffix
    with Image.open(folder / f"{stem}.webp") as webp:
        assert webp.n_frames == 8
    pngs = sorted(folder.glob(f"{stem}-*.png"))
    assert len(pngs) == 8
    with Image.open(pngs[0]) as png:
        assert "AnimateDiff" in png.info["parameters"]
    infotext = (folder / f"{stem}.txt").read_text()
    assert re.search(r'AnimateDiff: "model: mm_sd15_v2_random.safetensors, model hash: [0-9a-f]{10}, frames: 8', infotext), infotext


def test_interp_x_inserts_frames_and_keeps_the_duration(server: WebUIServer) -> None:
    """Optical flow, the built-in interpolator; FILM, Deforum's, is refused on this WebUI without Deforum."""
    film = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(interp="FILM", interp_x=2, fps=8)))
    assert film.response.status == 422 and "sd-webui-deforum" in film.response.text and not film.gifs, describe(film, server)
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(interp="Optical flow", interp_x=2, fps=8)))
    assert job.response.ok and len(job.frames) == 8, describe(job, server)
    assert len(job.gifs) == 1
    with Image.open(job.gifs[0]) as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert len(durations) == 15  # 8 frames, one inserted between each pair
    assert abs(sum(durations) / 1000 - 15 / 16) < 0.02  # played at 16 fps: the duration of 8 frames at 8 fps, nearly
    assert "optical-flow" in server.log_tail(80) or "built-in" in server.log_tail(80)
    assert "interp: Optical flow" in job.response.body["info"]


def test_a_video_source_feeds_img2img_frame_by_frame(server: WebUIServer, tmp_path) -> None:
    frames = [Image.fromarray(np.full((48, 80, 3), 30 * i, dtype=np.uint8)) for i in range(6)]
    video = Mp4Writer().write(frames, tmp_path, "source", VideoMeta(fps=12))[0]
    job = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(video_length=0, fps=0, video_path=str(video))))
    assert_animation(job, server, frames=6)  # 0 frames: the video's own count
    assert "video source: 6 frames at 12.0 fps" in server.log_tail(80)
    assert "fps: 12," in job.response.text, "fps 0: the source's rate, recorded in the infotext"
    with Image.open(job.gifs[0]) as gif:
        assert abs(gif.n_frames * 1000 / 12 - sum(_durations(gif))) < 60, "not played at the video's rate"


def test_a_missing_video_is_a_clear_error_before_sampling(server: WebUIServer, tmp_path) -> None:
    job = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(video_path=str(tmp_path / "absent.mp4"))))
    assert job.response.status >= 400 and not job.gifs
    assert "absent.mp4" in job.response.text
    assert "injected" not in server.log_tail(15)


def _moving_frames(count: int) -> list[Image.Image]:
    frames = []
    for i in range(count):
        pixels = np.full((64, 64, 3), 40 + 20 * i, dtype=np.uint8)
        pixels[:, 6 * i : 6 * i + 12] = (240, 30, 30)
        frames.append(Image.fromarray(pixels))
    return frames


def _sent_folders() -> set[str]:
    import tempfile
    from pathlib import Path

    return {path.name for path in Path(tempfile.gettempdir()).glob("animatediff-sent-*")}


def test_a_video_sent_over_the_api_makes_the_same_animation_as_the_file_on_the_server(server: WebUIServer, tmp_path) -> None:
    """A remote client sends its video as base64 (or a data URL of its frames): the job reads
    what it sent as it reads a path on the server, and removes what it wrote when it leaves."""
    import base64
    import io

    frames = _moving_frames(8)
    video = Mp4Writer().write(frames, tmp_path, "source", VideoMeta(fps=8))[0]
    folder = tmp_path / "frames"
    folder.mkdir()
    pngs = []
    for number, frame in enumerate(frames):
        frame.save(folder / f"{number:05d}.png")
        buffer = io.BytesIO()
        frame.save(buffer, format="PNG")
        pngs.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    sent_before = _sent_folders()

    def job(**video_input):
        ran = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(video_length=0, **video_input)))
        assert_animation(ran, server, frames=8)
        return ran.frames

    job(video_path=str(video))  # the first job of a shape on this CPU host can differ: warm up
    from_path = job(video_path=str(video))
    from_base64 = job(video_source=base64.b64encode(video.read_bytes()).decode())
    assert all((a == b).all() for a, b in zip(from_path, from_base64)), "the base64 video made another animation"
    from_folder, from_list = job(video_path=str(folder)), job(video_source=pngs)
    assert all((a == b).all() for a, b in zip(from_folder, from_list)), "the list of images made another animation"
    assert _sent_folders() == sent_before, "the job left what it was sent on the server"


def test_sent_video_faults_are_422_naming_the_field_and_the_payload_stays_out_of_the_log(server: WebUIServer, tmp_path) -> None:
    import base64

    noise = base64.b64encode(bytes(range(256)) * 200).decode()
    video = Mp4Writer().write(_moving_frames(8), tmp_path, "source", VideoMeta(fps=8))[0]
    truncated = base64.b64encode(video.read_bytes()[:600]).decode()  # an MP4's first bytes, no frames
    cases = [
        ({"video_source": noise}, "'video_source'", "not an MP4, WEBM, GIF, WEBP or MOV video"),
        ({"video_source": "data:video/mp4;base64," + truncated}, "'video_source'", "video input"),
        ({"video_source": [noise[:4000]]}, "'video_source'", "image 0 does not decode"),
        ({"video_path": "/tmp/" + "a" * 300 + "/clip.mp4"}, "'video_path'", "video input not found"),
        ({"mask_path": [noise[:4000]], "video_path": "/tmp"}, "'mask_path'", "image 0 does not decode"),
    ]
    for video_input, field, words in cases:
        job = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(**video_input)))
        assert job.response.status == 422 and not job.gifs, describe(job, server)
        assert field in job.response.text and words in job.response.text, job.response.text[:1000]
    log = server.log_text()
    assert noise[40:200] not in log and "a" * 200 not in log, "a payload went into the WebUI's log"
    assert len(server.post("/sdapi/v1/txt2img", txt2img_payload()).images()) == 1


def _durations(gif: Image.Image) -> list[int]:
    durations = []
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    return durations


def test_frames_are_written_once_where_the_formats_say(server: WebUIServer) -> None:
    """With "save images" (the UI's "Always save all generated images"), A1111 would save every
    frame again as a loose image beside the animation: an AnimateDiff job writes its frames only
    where its formats say, and sd-webui-animatediff's "Frame" answers them without files."""
    outputs = server.data_dir / "outputs"

    def loose() -> set:
        return {path for path in outputs.rglob("*.png") if "AnimateDiff" not in path.parts}

    before = loose()
    job = run_job(server, "txt2img", txt2img_payload(save_images=True, alwayson_scripts=animatediff(format=["GIF"])))
    assert job.response.ok and len(job.gifs) == 1, describe(job, server)
    assert loose() == before, f"loose frames written: {sorted(p.name for p in loose() - before)}"
    job = run_job(server, "txt2img", txt2img_payload(save_images=True, alwayson_scripts=animatediff(format=["GIF", "Frame"])))
    assert job.response.ok and len(job.gifs) == 1 and len(job.frames) == 8, describe(job, server)
    assert not list(job.gifs[0].parent.glob(f"{job.gifs[0].stem}*.png")) and loose() == before
    plain = server.post("/sdapi/v1/txt2img", txt2img_payload(save_images=True))
    assert len(plain.images()) == 1 and len(loose()) == len(before) + 1, "a plain job's own saving must stay"
