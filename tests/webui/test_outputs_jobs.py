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
    job = run_job(server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(interp="FILM", interp_x=2, fps=8)))
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


def test_a_video_source_feeds_img2img_frame_by_frame(server: WebUIServer, tmp_path) -> None:
    frames = [Image.fromarray(np.full((48, 80, 3), 30 * i, dtype=np.uint8)) for i in range(6)]
    video = Mp4Writer().write(frames, tmp_path, "source", VideoMeta(fps=12))[0]
    job = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(video_length=0, video_path=str(video))))
    assert_animation(job, server, frames=6)  # 0 frames: the video's own count
    assert "video source: 6 frames at 12.0 fps" in server.log_tail(80)


def test_a_missing_video_is_a_clear_error_before_sampling(server: WebUIServer, tmp_path) -> None:
    job = run_job(server, "img2img", img2img_payload(alwayson_scripts=animatediff(video_path=str(tmp_path / "absent.mp4"))))
    assert job.response.status >= 400 and not job.gifs
    assert "absent.mp4" in job.response.text
    assert "injected" not in server.log_tail(15)
