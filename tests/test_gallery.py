"""What a job shows: animations first in the UI's gallery (served from their files), the
frames after them when PNG was asked, each with its infotext; base64 videos for the API."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PIL import Image

from lib_animatediff.media.outputs import WrittenFile
from lib_animatediff.media.writers import OutputSettings, VideoMeta, write_animation
from lib_animatediff.webui.gallery import answer_api, playable, show_in_gallery

FRAMES = 3


def written(tmp_path: Path, formats: list[str], videos: int = 2) -> tuple[list[Image.Image], list[WrittenFile]]:
    frames = [Image.new("RGB", (32, 32), (40 * i, 90, 20)) for i in range(FRAMES * videos)]
    files = []
    for video in range(videos):
        part = frames[video * FRAMES : (video + 1) * FRAMES]
        paths = write_animation(part, tmp_path, f"0000{video}-{video}", formats, VideoMeta(fps=8), OutputSettings(gif_palette=False))
        files += [WrittenFile(path, FRAMES, 8.0, video, video) for path in paths]
    return frames, files


def result(frames: list[Image.Image], grid: bool = True) -> SimpleNamespace:
    """A1111's result: a grid first (return_grid), then the frames, each with its infotext."""
    images = ([Image.new("RGB", (96, 64))] if grid else []) + frames
    texts = (["grid"] if grid else []) + [f"video {i // FRAMES}" for i in range(len(frames))]
    return SimpleNamespace(images=images, infotexts=texts, index_of_first_image=1 if grid else 0, comments="")


def test_the_gallery_plays_each_animation_first_then_the_frames(tmp_path):
    frames, files = written(tmp_path, ["GIF", "WEBP", "PNG"])
    processed = result(frames)
    show_in_gallery(processed, frames, files, FRAMES, with_frames=True)
    animations = processed.images[:2]
    assert [Path(image.already_saved_as).suffix for image in animations] == [".gif", ".gif"]  # GIF before WEBP
    assert all(Image.open(image.already_saved_as).n_frames == FRAMES for image in animations)
    assert processed.images[2:] == frames and processed.index_of_first_image == 0  # the grid is gone
    assert processed.infotexts == ["video 0", "video 1"] + [f"video {i // FRAMES}" for i in range(6)]


def test_without_png_only_the_animations_and_webp_when_there_is_no_gif(tmp_path):
    frames, files = written(tmp_path, ["WEBP"])
    processed = result(frames, grid=False)
    show_in_gallery(processed, frames, files, FRAMES, with_frames=False)
    assert [Path(image.already_saved_as).suffix for image in processed.images] == [".webp", ".webp"]
    assert processed.infotexts == ["video 0", "video 1"]


def test_a_video_the_gallery_cannot_play_is_named_under_it_and_the_frames_stay(tmp_path):
    frames, files = written(tmp_path, ["MP4"], videos=1)
    processed = result(frames)
    show_in_gallery(processed, frames, files, FRAMES, with_frames=False)
    assert processed.images == frames and processed.infotexts == ["video 0"] * FRAMES
    assert str(files[0].path) in processed.comments and "AnimateDiff" in processed.comments
    assert playable(files, 0) is None


def test_the_api_answer_is_the_videos_then_the_frames(tmp_path):
    frames, files = written(tmp_path, ["GIF", "MP4", "PNG"])
    processed = result(frames)
    answer_api(processed, frames, files, FRAMES, with_frames=True)
    assert len(processed.images) == 4 + 6 and all(isinstance(item, str) for item in processed.images[:4])
    answer_api(processed, frames, files, FRAMES, with_frames=False)
    assert len(processed.images) == 4
