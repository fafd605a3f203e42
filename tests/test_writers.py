"""Output writers: every format read back (frames, size, timing, loop, metadata), atomic writes,
GIF palette quality, gifsicle, output folders and file names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image, ImageSequence

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.media import writers
from lib_animatediff.media.writers import (
    WRITERS,
    GifWriter,
    Mp4Writer,
    OutputSettings,
    PngWriter,
    TxtWriter,
    VideoMeta,
    WebmWriter,
    WebpWriter,
    frame_durations_ms,
    write_animation,
)
from lib_animatediff.webui.params import FORMATS

INFOTEXT = "a cat, masterpiece\nNegative prompt: blurry\nSteps: 20, Seed: 1234, AnimateDiff: ü ✓"


def moving_frames(count: int = 12, width: int = 64, height: int = 48) -> list[Image.Image]:
    """A smooth colour gradient with a drifting wave and a white square moving right."""
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        a = np.zeros((height, width, 3), np.uint8)
        a[..., 0] = xx * 255 // max(1, width - 1)
        a[..., 1] = yy * 255 // max(1, height - 1)
        a[..., 2] = (128 + 100 * np.sin((xx + 3 * i) / 5.0)).astype(np.uint8)
        x0 = 2 + 3 * i
        a[10:22, x0 : x0 + 12] = 255
        frames.append(Image.fromarray(a))
    return frames


def photo_like_frames(count: int = 12, width: int = 64, height: int = 48, seed: int = 0) -> list[Image.Image]:
    """Soft coloured blobs drifting over a background: smooth content like a generated image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    blobs = [
        (rng.uniform(0, width), rng.uniform(0, height), rng.uniform(width / 8, width / 3), rng.uniform(0, 255, 3), rng.uniform(-2, 2))
        for _ in range(6)
    ]
    frames = []
    for i in range(count):
        a = np.zeros((height, width, 3), np.float32) + np.array([40, 60, 90], np.float32)
        for cx, cy, radius, colour, speed in blobs:
            weight = np.exp(-((xx - cx - speed * i) ** 2 + (yy - cy) ** 2) / (2 * radius * radius))[..., None]
            a = a * (1 - weight) + colour * weight
        frames.append(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)))
    return frames


def gif_frames(path: Path) -> tuple[list[np.ndarray], list[int], Image.Image]:
    image = Image.open(path)
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        frames.append(np.asarray(frame.convert("RGB"), dtype=np.float64))
        durations.append(frame.info["duration"])  # known once the frame is loaded
    return frames, durations, image


def mean_abs_error(frames: list[np.ndarray], source: list[Image.Image]) -> float:
    return float(np.mean([np.abs(f - np.asarray(s, dtype=np.float64)).mean() for f, s in zip(frames, source)]))


def ffmpeg_metadata(path: Path) -> str:
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-f", "ffmetadata", "-"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def video_meta(path: Path) -> dict:
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        return next(reader)
    finally:
        reader.close()


def read_exif_infotext(image: Image.Image) -> str | None:
    """The infotext an image holds as Exif UserComment (the Exif IFD's tag 0x9286), as A1111 reads it."""
    raw = image.getexif().get_ifd(0x8769).get(0x9286)
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\0":
        return body.decode("utf-16-be", errors="replace")
    return body.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------- GIF


@pytest.mark.parametrize("palette", [True, False], ids=["palette", "pillow"])
def test_gif_frames_timing_loop_and_comment(tmp_path, palette):
    frames = moving_frames(12)
    (path,) = GifWriter(OutputSettings(gif_palette=palette)).write(frames, tmp_path, "anim", VideoMeta(fps=8, loop=3, infotext=INFOTEXT))
    assert path == tmp_path / "anim.gif"
    read, durations, image = gif_frames(path)
    assert len(read) == 12
    assert image.size == (64, 48)
    assert image.info["loop"] == 3
    assert image.info["comment"].decode("utf-8") == INFOTEXT
    # GIF counts in 10 ms steps: 8 fps alternates 120/130 ms but must total 12 × 125 ms.
    assert abs(sum(durations) - 1500) <= 10
    assert all(d in (120, 130) for d in durations)
    assert mean_abs_error(read, frames) < 12


def test_gif_loops_forever_by_default(tmp_path):
    (path,) = GifWriter().write(moving_frames(4), tmp_path, "a", VideoMeta(fps=10))
    image = Image.open(path)
    assert image.info["loop"] == 0
    assert "comment" not in image.info


def test_gif_palette_is_closer_to_source_than_naive_quantisation(tmp_path):
    frames = photo_like_frames(12)
    (path,) = GifWriter(OutputSettings(gif_palette=True)).write(frames, tmp_path, "p", VideoMeta(fps=8))
    read, _, _ = gif_frames(path)
    for frame in read:
        colours = Image.fromarray(frame.astype(np.uint8)).getcolors(maxcolors=256)
        assert colours is not None, "a palette frame shows more than 256 colours"
    palette_error = mean_abs_error(read, frames)
    naive = [
        np.asarray(f.convert("P", palette=Image.Palette.WEB, dither=Image.Dither.NONE).convert("RGB"), dtype=np.float64) for f in frames
    ]
    naive_error = mean_abs_error(naive, frames)
    assert palette_error < naive_error * 0.5, (palette_error, naive_error)


def test_gifsicle_optimises_without_losing_frames(tmp_path):
    if not writers.gifsicle_available():
        pytest.skip("the gifsicle binary is not installed (apt-get install gifsicle)")
    frames = photo_like_frames(12)
    meta = VideoMeta(fps=8, loop=0, infotext=INFOTEXT)
    for palette in (True, False):
        (plain,) = GifWriter(OutputSettings(gif_palette=palette)).write(frames, tmp_path, f"plain{palette}", meta)
        (optimised,) = GifWriter(OutputSettings(gif_palette=palette, gifsicle=True)).write(frames, tmp_path, f"opt{palette}", meta)
        assert optimised.stat().st_size <= plain.stat().st_size
        read, durations, image = gif_frames(optimised)
        assert len(read) == 12
        assert abs(sum(durations) - 1500) <= 10
        assert image.info["comment"].decode("utf-8") == INFOTEXT
        assert mean_abs_error(read, frames) < 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optFalse.gif", "optTrue.gif", "plainFalse.gif", "plainTrue.gif"]


def test_missing_gifsicle_warns_once_and_keeps_the_gif(tmp_path, monkeypatch, warnings_seen):
    monkeypatch.setattr(writers.shutil, "which", lambda name: None)
    monkeypatch.setattr(writers, "_gifsicle_warned", False)
    settings = OutputSettings(gifsicle=True)
    for stem in ("a", "b"):
        (path,) = GifWriter(settings).write(moving_frames(4), tmp_path, stem, VideoMeta(fps=8))
        assert Image.open(path).n_frames == 4
    assert len([w for w in warnings_seen if "gifsicle" in w]) == 1


def test_frame_durations_keep_the_average():
    durations = frame_durations_ms(8, 8, resolution_ms=10)
    assert sum(durations) == 1000 and set(durations) == {120, 130}
    assert frame_durations_ms(3, 3) == [333, 334, 333]


# --------------------------------------------------------------------------------------------- MP4 / WEBM


@pytest.mark.parametrize("size", [(64, 48), (65, 49)], ids=["even", "odd"])
def test_mp4_frames_size_fps_and_comment(tmp_path, size):
    frames = moving_frames(12, *size)
    (path,) = Mp4Writer().write(frames, tmp_path, "v", VideoMeta(fps=8, infotext=INFOTEXT))
    assert path == tmp_path / "v.mp4"
    count, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert count == 12
    assert seconds == pytest.approx(1.5, abs=0.01)
    meta = video_meta(path)
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert meta["fps"] == pytest.approx(8)
    even = (size[0] + size[0] % 2, size[1] + size[1] % 2)
    assert meta["size"] == even
    assert "comment=a cat, masterpiece\\\nNegative prompt: blurry" in ffmpeg_metadata(path)


def test_mp4_crf_preset_and_tune_are_used(tmp_path):
    frames = moving_frames(12)
    meta = VideoMeta(fps=8)
    (fine,) = Mp4Writer(OutputSettings(mp4_crf=12)).write(frames, tmp_path, "fine", meta)
    (coarse,) = Mp4Writer(OutputSettings(mp4_crf=40, mp4_preset="veryfast", mp4_tune="animation")).write(frames, tmp_path, "coarse", meta)
    assert coarse.stat().st_size < fine.stat().st_size
    with pytest.raises(AnimateDiffError, match="bad.mp4"):
        Mp4Writer(OutputSettings(mp4_preset="no-such-preset")).write(frames, tmp_path, "bad", meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coarse.mp4", "fine.mp4"]


def test_webm_frames_size_fps_and_comment(tmp_path):
    frames = moving_frames(10, 65, 49)
    (path,) = WebmWriter().write(frames, tmp_path, "v", VideoMeta(fps=10, infotext=INFOTEXT))
    count, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert count == 10
    assert seconds == pytest.approx(1.0, abs=0.01)
    meta = video_meta(path)
    assert meta["codec"] == "vp9"
    assert meta["size"] == (66, 50)
    assert meta["fps"] == pytest.approx(10)
    assert "COMMENT=a cat, masterpiece" in ffmpeg_metadata(path)


# --------------------------------------------------------------------------------------------- WEBP / PNG / TXT


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_frames_timing_loop_and_infotext(tmp_path, lossless):
    frames = moving_frames(12)
    (path,) = WebpWriter(OutputSettings(webp_lossless=lossless)).write(frames, tmp_path, "w", VideoMeta(fps=8, loop=2, infotext=INFOTEXT))
    image = Image.open(path)
    assert image.n_frames == 12
    assert image.size == (64, 48)
    assert image.info["loop"] == 2
    assert read_exif_infotext(image) == INFOTEXT
    durations, read = [], []
    for frame in ImageSequence.Iterator(image):
        read.append(np.asarray(frame.convert("RGB"), dtype=np.float64))
        durations.append(frame.info["duration"])  # known once the frame is loaded
    assert durations == [125] * 12
    if lossless:
        assert mean_abs_error(read, frames) == 0
    else:
        assert 0 < mean_abs_error(read, frames) < 10


def test_webp_quality_changes_size(tmp_path):
    frames = moving_frames(8)
    (low,) = WebpWriter(OutputSettings(webp_quality=20)).write(frames, tmp_path, "low", VideoMeta(fps=8))
    (high,) = WebpWriter(OutputSettings(webp_quality=95)).write(frames, tmp_path, "high", VideoMeta(fps=8))
    assert low.stat().st_size < high.stat().st_size


def test_png_frames_carry_parameters(tmp_path):
    frames = moving_frames(3)
    paths = PngWriter().write(frames, tmp_path, "00001-42", VideoMeta(fps=8, infotext=INFOTEXT))
    assert [p.name for p in paths] == ["00001-42-00000.png", "00001-42-00001.png", "00001-42-00002.png"]
    for path, frame in zip(paths, frames):
        image = Image.open(path)
        assert image.text["parameters"] == INFOTEXT
        assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(frame))
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]


def test_txt_holds_the_infotext(tmp_path):
    (path,) = TxtWriter().write(moving_frames(2), tmp_path, "t", VideoMeta(fps=8, infotext=INFOTEXT))
    assert path.read_text(encoding="utf-8") == INFOTEXT


# --------------------------------------------------------------------------------------------- write_animation


def test_writers_cover_the_parameter_formats():
    assert set(WRITERS) == set(FORMATS)


def test_write_animation_every_format(tmp_path):
    frames = moving_frames(6)
    folder = tmp_path / "out" / "2024-01-01"
    paths = write_animation(
        frames,
        folder,
        "00000-7",
        ["gif", "MP4", "WEBM", "WEBP", "PNG", "TXT", "GIF"],
        VideoMeta(fps=8, infotext=INFOTEXT),
        OutputSettings(),
    )
    names = [p.name for p in paths]
    assert names[:4] == ["00000-7.gif", "00000-7.mp4", "00000-7.webm", "00000-7.webp"]
    assert names[4:10] == [f"00000-7-{i:05d}.png" for i in range(6)]
    assert names[10:] == ["00000-7.txt"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)  # nothing else (no temporaries)


def test_unknown_format_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(AnimateDiffError, match="'AVI'"):
        write_animation(moving_frames(2), tmp_path, "x", ["GIF", "AVI"], VideoMeta(fps=8), OutputSettings())
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_and_meta_are_refused(tmp_path):
    with pytest.raises(AnimateDiffError, match="no frames"):
        write_animation([], tmp_path, "x", ["GIF"], VideoMeta(fps=8), OutputSettings())
    with pytest.raises(AnimateDiffError, match="same size"):
        write_animation([Image.new("RGB", (8, 8)), Image.new("RGB", (9, 8))], tmp_path, "x", ["GIF"], VideoMeta(fps=8), OutputSettings())
    with pytest.raises(AnimateDiffError, match="fps"):
        write_animation(moving_frames(2), tmp_path, "x", ["WEBP"], VideoMeta(fps=0), OutputSettings())
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def failing_ffmpeg(tmp_path, monkeypatch):
    """An 'ffmpeg' that writes half a file to its output path and fails."""
    if sys.platform == "win32":
        pytest.skip("the failing ffmpeg stand-in is a POSIX shell script")
    script = tmp_path / "bin" / "ffmpeg"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\nfor last; do :; done\nprintf partial > "$last"\necho "simulated encoder failure" >&2\nexit 1\n')
    script.chmod(0o755)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(script))
    return script


@pytest.mark.parametrize("fmt", ["GIF", "MP4", "WEBM"])
def test_failed_ffmpeg_write_leaves_no_file(tmp_path, failing_ffmpeg, fmt):
    folder = tmp_path / "out"
    with pytest.raises(AnimateDiffError, match="simulated encoder failure"):
        write_animation(moving_frames(4), folder, "x", [fmt], VideoMeta(fps=8, infotext=INFOTEXT), OutputSettings(gif_palette=True))
    assert list(folder.iterdir()) == []


def test_failed_png_write_leaves_no_file(tmp_path, monkeypatch):
    real_save = Image.Image.save
    calls = []

    def failing_save(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(AnimateDiffError, match="disk full"):
        PngWriter().write(moving_frames(5), tmp_path, "x", VideoMeta(fps=8))
    assert list(tmp_path.iterdir()) == []


def test_missing_ffmpeg_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(tmp_path / "nowhere" / "ffmpeg"))
    with pytest.raises(AnimateDiffError, match="ffmpeg"):
        Mp4Writer().write(moving_frames(2), tmp_path, "x", VideoMeta(fps=8))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------- folders and names




def test_temporary_files_are_hidden_and_removed(tmp_path):
    write_animation(moving_frames(3), tmp_path, "s", ["GIF", "WEBP", "TXT"], VideoMeta(fps=8), OutputSettings())
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_what_each_format_is_comes_from_its_writer():
    from lib_animatediff.media.writers import FRAME_FORMATS, GALLERY_FORMATS, VIDEO_FORMATS

    assert set(VIDEO_FORMATS) == {"GIF", "MP4", "WEBM", "WEBP"}  # one file holds the animation: API clients get it
    assert GALLERY_FORMATS == ("GIF", "WEBP")  # a browser plays it as an image, GIF first
    assert FRAME_FORMATS == ("PNG", "FRAME")  # the frames are shown too
