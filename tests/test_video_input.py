"""Video input: files written by our writers read back exactly, frame folders in natural order,
clear errors before sampling, crop-and-resize, and the temporary frame folder."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.media.video_input import FrameFolder, natural_key, read_video_frames, resize_frames
from lib_animatediff.media.writers import GifWriter, Mp4Writer, OutputSettings, VideoMeta, WebmWriter, WebpWriter


def distinct_frames(count: int, width: int = 64, height: int = 48) -> list[Image.Image]:
    """Frames told apart by a bar that moves and a brightness that rises (survive lossy codecs)."""
    frames = []
    for i in range(count):
        a = np.full((height, width, 3), 30 + 12 * i, np.uint8)
        x0 = 4 * i % (width - 8)
        a[:, x0 : x0 + 8] = (250, 40, 40)
        frames.append(Image.fromarray(a))
    return frames


def nearest_source(frame: Image.Image, sources: list[Image.Image]) -> int:
    """Index of the source frame closest to ``frame``."""
    errors = [np.abs(np.asarray(frame, np.float64) - np.asarray(s, np.float64)).mean() for s in sources]
    return int(np.argmin(errors))


@pytest.mark.parametrize("writer", [Mp4Writer, WebmWriter, GifWriter, WebpWriter], ids=["mp4", "webm", "gif", "webp"])
def test_written_video_reads_back_exactly(tmp_path, writer):
    source = distinct_frames(10)
    (path,) = writer(OutputSettings()).write(source, tmp_path, "clip", VideoMeta(fps=12))
    video = read_video_frames(path)
    assert video.frame_count == 10
    assert video.fps == pytest.approx(12, rel=0.01)
    assert video.source == path
    assert all(frame.mode == "RGB" and frame.size == (64, 48) for frame in video.frames)
    assert [nearest_source(frame, source) for frame in video.frames] == list(range(10))


def test_every_and_max_frames(tmp_path):
    source = distinct_frames(10)
    (path,) = Mp4Writer().write(source, tmp_path, "clip", VideoMeta(fps=10))
    every_third = read_video_frames(path, every=3)
    assert [nearest_source(f, source) for f in every_third.frames] == [0, 3, 6, 9]
    assert every_third.fps == pytest.approx(10)
    limited = read_video_frames(path, every=2, max_frames=3)
    assert [nearest_source(f, source) for f in limited.frames] == [0, 2, 4]
    with pytest.raises(AnimateDiffError, match="every"):
        read_video_frames(path, every=0)
    with pytest.raises(AnimateDiffError, match="max_frames"):
        read_video_frames(path, max_frames=0)


def test_odd_sized_mp4_reads_with_its_padded_size(tmp_path):
    (path,) = Mp4Writer().write(distinct_frames(5, 63, 47), tmp_path, "odd", VideoMeta(fps=8))
    video = read_video_frames(path)
    assert video.frame_count == 5
    assert video.frames[0].size == (64, 48)


def test_variable_frame_rate_gif_keeps_every_frame(tmp_path):
    source = distinct_frames(6)
    path = tmp_path / "vfr.gif"
    source[0].save(path, save_all=True, append_images=source[1:], duration=[50, 100, 200, 50, 300, 100], loop=0)
    video = read_video_frames(path)
    assert video.frame_count == 6
    assert video.fps == pytest.approx(6 / 0.8)
    assert [nearest_source(f, source) for f in video.frames] == list(range(6))


def test_folder_in_natural_order(tmp_path):
    colours = {"frame1.png": 10, "frame2.jpg": 60, "frame10.png": 200, "frame9.webp": 150}
    for name, value in colours.items():
        Image.new("RGB", (16, 12), (value, value, value)).save(tmp_path / name, quality=95)
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / ".hidden.png").write_bytes(b"not an image")
    video = read_video_frames(tmp_path)
    assert video.fps is None
    assert video.fps is None
    assert video.frame_count == 4
    assert [round(np.asarray(f).mean() / 10) for f in video.frames] == [1, 6, 15, 20]
    assert read_video_frames(tmp_path, every=2).frame_count == 2
    assert read_video_frames(tmp_path, max_frames=3).frame_count == 3


def test_natural_key():
    assert sorted(["f10.png", "f9.png", "F1.png", "f100.png"], key=natural_key) == ["F1.png", "f9.png", "f10.png", "f100.png"]


def test_missing_input_names_the_path(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(AnimateDiffError, match="not found.*nope.mp4"):
        read_video_frames(missing)


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(AnimateDiffError, match=f"{tmp_path.name}.*no images"):
        read_video_frames(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(AnimateDiffError, match="no images"):
        read_video_frames(tmp_path)


def test_corrupt_files_name_the_path(tmp_path):
    corrupt_video = tmp_path / "broken.mp4"
    corrupt_video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(AnimateDiffError, match="broken.mp4"):
        read_video_frames(corrupt_video)
    corrupt_gif = tmp_path / "broken.gif"
    corrupt_gif.write_bytes(b"GIF89a garbage")
    with pytest.raises(AnimateDiffError, match="broken.gif"):
        read_video_frames(corrupt_gif)
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "0001.png")
    (folder / "0002.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(AnimateDiffError, match="0002.png"):
        read_video_frames(folder)
    text = tmp_path / "clip.txt"
    text.write_text("x")
    with pytest.raises(AnimateDiffError, match="clip.txt.*not a video"):
        read_video_frames(text)


def test_video_without_frames(tmp_path):
    empty = tmp_path / "empty.mp4"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x48:r=8",
               "-frames:v", "0", "-c:v", "libx264", str(empty)]  # fmt: skip
    subprocess.run(command, check=True)
    with pytest.raises(AnimateDiffError, match="empty.mp4.*no"):
        read_video_frames(empty)


def test_resize_frames_crops_the_centre():
    # A 90×30 frame of three 30-pixel-wide bands: red | green | blue.
    a = np.zeros((30, 90, 3), np.uint8)
    a[:, :30] = (255, 0, 0)
    a[:, 30:60] = (0, 255, 0)
    a[:, 60:] = (0, 0, 255)
    (square,) = resize_frames([Image.fromarray(a)], 20, 20)
    assert square.size == (20, 20)
    centre = np.asarray(square, np.float64)[2:-2, 2:-2].mean(axis=(0, 1))
    assert centre[1] > 240 and centre[0] < 15 and centre[2] < 15
    # Wider target from a tall frame: fills the width, crops top and bottom.
    (wide,) = resize_frames([Image.new("RGBA", (10, 40), (9, 9, 9, 255))], 64, 48)
    assert wide.size == (64, 48) and wide.mode == "RGB"
    same = Image.new("RGB", (64, 48))
    assert resize_frames([same], 64, 48)[0] is same


def test_frame_folder_is_removed_on_exit(tmp_path):
    frames = distinct_frames(3)
    with FrameFolder(parent=tmp_path) as folder:
        paths = folder.save(frames)
        assert [p.name for p in paths] == ["00000.png", "00001.png", "00002.png"]
        assert folder.paths() == paths
        loaded = folder.load()
        assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(loaded, frames))
        where = folder.path
    assert not where.exists()
    assert list(tmp_path.iterdir()) == []


def test_frame_folder_is_removed_after_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), FrameFolder(parent=tmp_path) as folder:
        folder.save(distinct_frames(1))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_frame_folder_kept_on_request(tmp_path):
    with FrameFolder(parent=tmp_path, keep=True) as folder:
        folder.save(distinct_frames(2))
    assert folder.path.is_dir()
    assert len(list(folder.path.iterdir())) == 2


def test_the_rate_of_a_video_is_read_without_its_frames_and_loading_one_in_the_accordion_sets_fps_and_frames(tmp_path):
    from lib_animatediff.media.video_input import video_rate
    from lib_animatediff.webui.accordion import settings_from_video

    source = distinct_frames(6)
    (mp4,) = Mp4Writer().write(source, tmp_path, "clip", VideoMeta(fps=12))
    (gif,) = GifWriter().write(source, tmp_path, "clip", VideoMeta(fps=10))
    assert video_rate(mp4) == pytest.approx(12, rel=0.01) and video_rate(gif) == pytest.approx(10, rel=0.01)
    assert video_rate(tmp_path) is None and video_rate(tmp_path / "absent.mp4") is None
    assert settings_from_video(str(mp4), 8, 16) == (12, 0)
    assert settings_from_video({"name": str(gif)}, 8, 16) == (10, 0)
    assert settings_from_video(None, 8, 16) == (8, 16)
