"""Output writers: one small writer per format behind one interface.

``write_animation`` writes a finished animation in every requested format. Each file is
written to a hidden temporary file in the destination folder and renamed into place, so a
failed or interrupted write never leaves a partial file where the user looks for results.

GIF, MP4 and WEBM go through the ffmpeg binary that ``imageio-ffmpeg`` bundles (no system
ffmpeg needed): raw RGB frames are piped into its standard input. WEBP and PNG are written
with Pillow.
"""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image, PngImagePlugin

from ..errors import AnimateDiffError, OutputError
from ..log import logger

# Exif tags where A1111 looks for the infotext of a JPEG/WEBP image (UserComment in the Exif IFD).
_EXIF_IFD = 0x8769
_EXIF_USER_COMMENT = 0x9286
_GIF_COMMENT_LIMIT = 255  # bytes per GIF data sub-block

_gifsicle_warned = False


@dataclass(frozen=True)
class OutputSettings:
    """How the formats are encoded (WebUI settings, not per-job parameters)."""

    gif_palette: bool = True  # one optimal palette per animation (ffmpeg palettegen/paletteuse)
    gifsicle: bool = False  # optimise the GIF with gifsicle when its binary is installed
    mp4_crf: int = 23  # x264 constant rate factor: 0 lossless … 51 worst
    mp4_preset: str = ""  # x264 preset (ultrafast … veryslow); "" = ffmpeg's default
    mp4_tune: str = ""  # x264 tune (film, animation, …); "" = none
    webp_quality: int = 80  # 0 … 100
    webp_lossless: bool = False


@dataclass(frozen=True)
class VideoMeta:
    """What every format records about the animation."""

    fps: float
    loop: int = 0  # GIF/WEBP loop count; 0 = forever
    infotext: str = ""


# ---------------------------------------------------------------------------------------------
# Helpers


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as error:  # imageio-ffmpeg raises RuntimeError when it finds no binary
        raise AnimateDiffError(f"no ffmpeg binary found (imageio-ffmpeg: {error}); reinstall imageio-ffmpeg") from error


def frame_durations_ms(count: int, fps: float, resolution_ms: int = 1) -> list[int]:
    """Per-frame display times in whole ``resolution_ms`` units whose sum follows ``fps`` exactly.

    Rounding the cumulative time (rather than each frame's) keeps the average right, e.g.
    8 fps in GIF's 10 ms units alternates 120 and 130 ms instead of always 120 ms.
    """
    step = 1000.0 / fps
    ticks = [round(i * step / resolution_ms) * resolution_ms for i in range(count + 1)]
    return [max(resolution_ms, b - a) for a, b in itertools.pairwise(ticks)]


def _rgb_frames(frames: Sequence[Image.Image]) -> list[Image.Image]:
    if not frames:
        raise AnimateDiffError("no frames to write")
    rgb = [frame if frame.mode == "RGB" else frame.convert("RGB") for frame in frames]
    size = rgb[0].size
    for index, frame in enumerate(rgb):
        if frame.size != size:
            raise AnimateDiffError(
                f"frame {index} is {frame.size[0]}×{frame.size[1]}, frame 0 is {size[0]}×{size[1]}: all frames must be the same size"
            )
    return rgb


def _check_meta(meta: VideoMeta) -> None:
    if not meta.fps > 0:
        raise AnimateDiffError(f"fps must be positive, got {meta.fps}")
    if meta.loop < 0:
        raise AnimateDiffError(f"loop must be 0 (forever) or a positive count, got {meta.loop}")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that is renamed onto it when the block succeeds.

    The temporary name is hidden and keeps the suffix (so tools that look at it, such as
    gifsicle, still recognise the format). On any error it is removed.
    """
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}")
    os.close(fd)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def _ffmpeg_rate(fps: float) -> str:
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def run_ffmpeg(frames: Sequence[Image.Image], output_args: Sequence[str], output: Path, fps: float) -> None:
    """Pipe ``frames`` (RGB, one size) into ffmpeg, which writes ``output`` with ``output_args``."""
    width, height = frames[0].size
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", _ffmpeg_rate(fps), "-i", "-",
        *output_args, str(output),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
        except OSError as error:
            raise AnimateDiffError(f"could not start ffmpeg ({command[0]}): {error}") from error
        try:
            for frame in frames:
                process.stdin.write(np.asarray(frame, dtype=np.uint8).tobytes())
        except (BrokenPipeError, OSError):
            pass  # ffmpeg stopped early; its exit status and message say why
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass
            returncode = process.wait()
        if returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode("utf-8", errors="replace").strip().splitlines()
            detail = " / ".join(message[-3:]) if message else "no message"
            raise AnimateDiffError(f"ffmpeg failed (exit status {returncode}): {detail}")


def _even_pad_filter() -> str:
    """Pad odd widths/heights by one pixel (H.264 and VP9 in 4:2:0 need even sizes)."""
    return "pad=ceil(iw/2)*2:ceil(ih/2)*2"


def _insert_gif_comment(path: Path, comment: str) -> None:
    """Insert a GIF Comment Extension right after the header and global colour table."""
    if not comment:
        return
    data = path.read_bytes()
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise AnimateDiffError(f"{path.name} is not a GIF")
    flags = data[10]
    offset = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    payload = comment.encode("utf-8")
    blocks = b"".join(
        bytes([len(chunk)]) + chunk for chunk in (payload[i : i + _GIF_COMMENT_LIMIT] for i in range(0, len(payload), _GIF_COMMENT_LIMIT))
    )
    extension = b"\x21\xfe" + blocks + b"\x00"
    path.write_bytes(b"GIF89a" + data[6:offset] + extension + data[offset:])


def gifsicle_available() -> bool:
    return shutil.which("gifsicle") is not None


def _warn_gifsicle_missing() -> None:
    global _gifsicle_warned
    if not _gifsicle_warned:
        _gifsicle_warned = True
        logger.warning("gifsicle optimisation is on but the gifsicle binary is not installed; GIFs are saved unoptimised")


def _optimise_gif(path: Path) -> None:
    """Optimise ``path`` in place with gifsicle; keep it unchanged if that is impossible or fails.

    pygifsicle always passes ``--colors 256``: a GIF with one palette (``gif_palette``) keeps
    its colours; per-frame palettes (Pillow's) are mapped onto one shared palette.
    """
    if not gifsicle_available():
        _warn_gifsicle_missing()
        return
    try:
        import pygifsicle
    except ImportError:
        logger.warning("gifsicle optimisation is on but pygifsicle is not installed; GIF saved unoptimised")
        return
    with atomic_path(path) as optimised:
        optimised.unlink()
        pygifsicle.gifsicle(str(path), destination=str(optimised), options=["-O3", "--no-warnings"])
        # pygifsicle ignores gifsicle's exit status: judge the result by the file it left.
        if not optimised.is_file() or optimised.read_bytes()[:6] not in (b"GIF87a", b"GIF89a"):
            logger.warning("gifsicle could not optimise a GIF; it is kept unoptimised")
            optimised.write_bytes(path.read_bytes())
        elif optimised.stat().st_size > path.stat().st_size:
            optimised.write_bytes(path.read_bytes())


# ---------------------------------------------------------------------------------------------
# Writers


class AnimationWriter(ABC):
    """Writes one animation in one format; ``write`` returns the files it wrote."""

    format: ClassVar[str]
    suffix: ClassVar[str]
    holds_animation: ClassVar[bool] = True  # one file holds the whole animation (what API clients get in ``images``)
    gallery_rank: ClassVar[int | None] = None  # a browser plays it as an image: the gallery's preference, lower first
    is_frames: ClassVar[bool] = False  # the frames themselves: the gallery and the API answer show them too

    def __init__(self, settings: OutputSettings = OutputSettings()) -> None:
        self.settings = settings

    def target(self, folder: Path, stem: str) -> Path:
        return folder / f"{stem}{self.suffix}"

    def files(self, frames: list[Image.Image], folder: Path, stem: str) -> list[tuple[Path, list[Image.Image]]]:
        """The files of one animation, each with the frames it holds: one file of them all."""
        return [(self.target(folder, stem), frames)]

    def write(self, frames: Sequence[Image.Image], folder: Path, stem: str, meta: VideoMeta) -> list[Path]:
        """Every file written to a temporary beside it first; only when all succeeded are they
        renamed, so a failed write leaves nothing behind."""
        _check_meta(meta)
        files = self.files(_rgb_frames(frames), folder, stem)
        targets = [target for target, _ in files]
        where = targets[0] if len(targets) == 1 else f"{folder / stem}-*{self.suffix}"
        try:
            with ExitStack() as stack:
                for target, held in files:
                    self.encode(held, stack.enter_context(atomic_path(target)), meta)
        except (AnimateDiffError, OSError) as error:
            raise OutputError(f"could not write {where}: {error}") from error
        return targets

    @abstractmethod
    def encode(self, frames: list[Image.Image], path: Path, meta: VideoMeta) -> None:
        """Write ``frames`` to ``path`` (a temporary file that may be overwritten)."""


class GifWriter(AnimationWriter):
    """Animated GIF; infotext in a Comment Extension, loop count in the NETSCAPE block."""

    format = "GIF"
    suffix = ".gif"
    gallery_rank = 0

    def encode(self, frames: list[Image.Image], path: Path, meta: VideoMeta) -> None:
        if meta.fps > 50:
            logger.warning(f"GIF cannot show {meta.fps:g} fps faithfully (browsers slow delays under 20 ms); consider MP4 or WEBP")
        if self.settings.gif_palette:
            graph = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle"
            run_ffmpeg(frames, ["-filter_complex", graph, "-loop", str(meta.loop), "-f", "gif"], path, meta.fps)
        else:
            # Pillow quantises every frame to its own adaptive palette.
            first, *rest = frames
            durations = frame_durations_ms(len(frames), meta.fps, resolution_ms=10)
            first.save(path, format="GIF", save_all=True, append_images=rest, duration=durations, loop=meta.loop, disposal=1)
        if self.settings.gifsicle:
            _optimise_gif(path)
        _insert_gif_comment(path, meta.infotext)


class Mp4Writer(AnimationWriter):
    """H.264 (libx264, yuv420p) MP4; infotext in the ``comment`` tag; odd sizes padded to even."""

    format = "MP4"
    suffix = ".mp4"

    def encode(self, frames: list[Image.Image], path: Path, meta: VideoMeta) -> None:
        settings = self.settings
        args = ["-vf", _even_pad_filter(), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(settings.mp4_crf)]
        if settings.mp4_preset:
            args += ["-preset", settings.mp4_preset]
        if settings.mp4_tune:
            args += ["-tune", settings.mp4_tune]
        args += ["-movflags", "+faststart", "-metadata", f"comment={meta.infotext}", "-f", "mp4"]
        run_ffmpeg(frames, args, path, meta.fps)


class WebmWriter(AnimationWriter):
    """VP9 WEBM at constant quality; infotext in the ``comment`` tag; odd sizes padded to even."""

    format = "WEBM"
    suffix = ".webm"
    crf: ClassVar[int] = 32  # VP9's scale differs from x264's; 31–33 is its usual default quality

    def encode(self, frames: list[Image.Image], path: Path, meta: VideoMeta) -> None:
        args = [
            "-vf", _even_pad_filter(), "-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", "0", "-crf", str(self.crf),
            "-deadline", "good", "-cpu-used", "4", "-row-mt", "1", "-metadata", f"comment={meta.infotext}", "-f", "webm",
        ]  # fmt: skip
        run_ffmpeg(frames, args, path, meta.fps)


def exif_with_infotext(infotext: str) -> bytes:
    """A minimal big-endian TIFF/Exif block whose Exif IFD holds ``infotext`` as UserComment.

    The comment is typed UNDEFINED with the ``UNICODE`` prefix and UTF-16BE text, as the
    Exif standard (and piexif, through which A1111 reads it back) expects.
    """
    comment = b"UNICODE\0" + infotext.encode("utf-16-be")
    exif_ifd_offset = 8 + 2 + 12 + 4
    data_offset = exif_ifd_offset + 2 + 12 + 4
    return b"".join([
        b"MM\x00\x2a", struct.pack(">I", 8),
        struct.pack(">HHHII", 1, _EXIF_IFD, 4, 1, exif_ifd_offset), struct.pack(">I", 0),
        struct.pack(">HHHII", 1, _EXIF_USER_COMMENT, 7, len(comment), data_offset), struct.pack(">I", 0),
        comment,
    ])  # fmt: skip


class WebpWriter(AnimationWriter):
    """Animated WEBP with Pillow; infotext as Exif UserComment."""

    format = "WEBP"
    suffix = ".webp"
    gallery_rank = 1

    def encode(self, frames: list[Image.Image], path: Path, meta: VideoMeta) -> None:
        first, *rest = frames
        options = {
            "format": "WEBP", "save_all": True, "append_images": rest, "duration": frame_durations_ms(len(frames), meta.fps),
            "loop": meta.loop, "quality": self.settings.webp_quality, "lossless": self.settings.webp_lossless, "method": 4,
            "minimize_size": False, "allow_mixed": False,
        }  # fmt: skip
        if meta.infotext:
            options["exif"] = exif_with_infotext(meta.infotext)
        first.save(path, **options)


class PngWriter(AnimationWriter):
    """One PNG per frame, ``STEM-00000.png`` …, each with the infotext in a ``parameters`` text chunk."""

    format = "PNG"
    suffix = ".png"
    holds_animation = False
    is_frames = True

    def frame_path(self, folder: Path, stem: str, index: int) -> Path:
        return folder / f"{stem}-{index:05d}{self.suffix}"

    def files(self, frames: list[Image.Image], folder: Path, stem: str) -> list[tuple[Path, list[Image.Image]]]:
        return [(self.frame_path(folder, stem, index), [frame]) for index, frame in enumerate(frames)]

    def encode(self, frames: list[Image.Image], path: Path, meta: VideoMeta) -> None:
        info = PngImagePlugin.PngInfo()
        if meta.infotext:
            info.add_text("parameters", meta.infotext)
        frames[0].save(path, format="PNG", pnginfo=info)


class TxtWriter(AnimationWriter):
    """The infotext as UTF-8 text."""

    format = "TXT"
    suffix = ".txt"
    holds_animation = False

    def encode(self, frames: list[Image.Image], path: Path, meta: VideoMeta) -> None:
        path.write_text(meta.infotext, encoding="utf-8")


WRITERS: dict[str, type[AnimationWriter]] = {
    writer.format: writer for writer in (GifWriter, Mp4Writer, WebmWriter, WebpWriter, PngWriter, TxtWriter)
}
FORMATS = tuple(WRITERS)
# sd-webui-animatediff's "Frame": the frames come back (gallery, API answer), no file is written
FRAMES_ONLY = "FRAME"
# What the rest of the code asks about a format, from its writer.
VIDEO_FORMATS = tuple(name for name, writer in WRITERS.items() if writer.holds_animation)
GALLERY_FORMATS = tuple(sorted((name for name, writer in WRITERS.items() if writer.gallery_rank is not None), key=lambda name: WRITERS[name].gallery_rank))
# formats that ask for the frames to be shown (PNG; and "Frame", which writes nothing)
FRAME_FORMATS = (*(name for name, writer in WRITERS.items() if writer.is_frames), FRAMES_ONLY)


def format_names(formats: Sequence[str]) -> list[str]:
    """The formats as their writers' keys (upper case, no spaces), de-duplicated, in order."""
    return list(dict.fromkeys(str(name).strip().upper() for name in formats))


def normalise_formats(formats: Sequence[str]) -> list[str]:
    """:func:`format_names`; an unknown format raises naming it."""
    names = format_names(formats)
    unknown = [name for name in names if name not in WRITERS]
    if unknown:
        raise AnimateDiffError(f"unknown output format {unknown[0]!r}; known: {', '.join(WRITERS)}")
    return names


def write_animation(
    frames: Sequence[Image.Image],
    folder: Path,
    stem: str,
    formats: Sequence[str],
    meta: VideoMeta,
    settings: OutputSettings = OutputSettings(),
) -> list[Path]:
    """Write ``frames`` as ``folder/stem.<format>`` for every format; return the files written.

    Formats are checked before anything is written. A format whose write fails raises
    (``AnimateDiffError``) and leaves no file of its own; formats written before it stay.
    """
    names = normalise_formats(formats)
    frames = _rgb_frames(frames)
    _check_meta(meta)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in names:
        written += WRITERS[name](settings).write(frames, folder, stem, meta)
    return written
