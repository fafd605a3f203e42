"""Video input for video-to-video: frames from a video file or a folder of images.

Everything here runs before sampling starts, so a bad input fails the job at once with an
``AnimateDiffError`` that names the path. Video files are decoded by the ffmpeg binary that
``imageio-ffmpeg`` bundles (no system ffmpeg needed); GIF and animated WEBP by Pillow, which
reads every frame and its exact display time.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from ..errors import AnimateDiffError
from ..log import logger

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v")
ANIMATED_IMAGE_SUFFIXES = (".gif", ".webp")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class VideoInputError(AnimateDiffError):
    """A video or frame folder given as input cannot be used."""


@dataclass
class VideoClip:
    """Frames read from ``source`` (RGB), every ``every``-th one; ``fps`` is the source's rate
    (None for a folder of images, which has none)."""

    frames: list[Image.Image]
    fps: float | None
    source: Path
    every: int = 1

    @property
    def frame_count(self) -> int:
        return len(self.frames)


def natural_key(name: str) -> list[object]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


def _check_sampling(every: int, max_frames: int | None) -> None:
    if not isinstance(every, int) or every < 1:
        raise VideoInputError(f"'every' must be a whole number of at least 1, got {every!r}")
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise VideoInputError(f"'max_frames' must be None or at least 1, got {max_frames!r}")


def _take(frames: Iterator[Image.Image], every: int, max_frames: int | None) -> list[Image.Image]:
    taken: list[Image.Image] = []
    for index, frame in enumerate(frames):
        if index % every:
            continue
        taken.append(frame)
        if max_frames is not None and len(taken) >= max_frames:
            break
    return taken


def read_video_frames(source: str | Path, every: int = 1, max_frames: int | None = None) -> VideoClip:
    """All frames of a video file (mp4, webm, mov, mkv, avi, gif, animated webp) or a folder of
    images (png, jpg, jpeg, webp; natural name order), keeping every ``every``-th frame and at
    most ``max_frames``. No frame is dropped or duplicated to fit a frame rate."""
    _check_sampling(every, max_frames)
    source = Path(source)
    if not source.exists():
        raise VideoInputError(f"video input not found: {source}")
    if source.is_dir():
        frames, fps = _read_folder(source, every, max_frames), None
    elif source.suffix.lower() in ANIMATED_IMAGE_SUFFIXES:
        frames, fps = _read_animated_image(source, every, max_frames)
    elif source.suffix.lower() in VIDEO_SUFFIXES:
        frames, fps = _read_video_file(source, every, max_frames)
    else:
        known = ", ".join(VIDEO_SUFFIXES + ANIMATED_IMAGE_SUFFIXES)
        raise VideoInputError(f"video input {source} is not a video ({known}) or a folder of images")
    if not frames:
        raise VideoInputError(f"video input {source} has no frames")
    logger.info(f"read {len(frames)} frames from {source}" + (f" at {fps:g} fps" if fps else ""))
    return VideoClip(frames=frames, fps=fps, source=source, every=every)


def video_rate(source: str | Path) -> float | None:
    """The frame rate of a video file or animated image, read from its header and frame
    times without decoding the whole video; None for a folder, an unknown rate or an unreadable file."""
    path = Path(source)
    try:
        if path.suffix.lower() in ANIMATED_IMAGE_SUFFIXES:
            with Image.open(path) as image:
                durations = [float(frame.info.get("duration") or 0) for frame in ImageSequence.Iterator(image)]
            return len(durations) * 1000.0 / sum(durations) if sum(durations) > 0 else None
        if path.suffix.lower() in VIDEO_SUFFIXES:
            import imageio_ffmpeg

            reader = imageio_ffmpeg.read_frames(str(path))
            try:
                return float(next(reader).get("fps") or 0) or None
            finally:
                reader.close()
    except (OSError, RuntimeError, ValueError, StopIteration, UnidentifiedImageError):
        return None
    return None


def frame_files(folder: Path) -> list[Path]:
    """The images of a frame folder, in natural name order (frame2 before frame10)."""
    return sorted(
        (path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda path: natural_key(path.name),
    )


def _read_folder(folder: Path, every: int, max_frames: int | None) -> list[Image.Image]:
    paths = frame_files(folder)
    if not paths:
        raise VideoInputError(f"frame folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")

    def images() -> Iterator[Image.Image]:
        for index, path in enumerate(paths):
            if index % every:
                yield None  # skipped without decoding
                continue
            try:
                with Image.open(path) as image:
                    yield image.convert("RGB")
            except (OSError, UnidentifiedImageError, ValueError) as error:
                raise VideoInputError(f"cannot read frame image {path}: {error}") from error

    return _take(images(), every, max_frames)


def _read_animated_image(path: Path, every: int, max_frames: int | None) -> tuple[list[Image.Image], float | None]:
    try:
        with Image.open(path) as image:
            durations: list[float] = []

            def frames() -> Iterator[Image.Image]:
                for frame in ImageSequence.Iterator(image):
                    rgb = frame.convert("RGB")  # WEBP sets the frame's duration when it loads
                    durations.append(float(frame.info.get("duration") or 0))
                    yield rgb

            taken = _take(frames(), every, max_frames)
    except (OSError, UnidentifiedImageError, ValueError, EOFError) as error:
        raise VideoInputError(f"cannot read video input {path}: {error}") from error
    total_ms = sum(durations)
    fps = len(durations) * 1000.0 / total_ms if total_ms > 0 else None
    return taken, fps


def _read_video_file(path: Path, every: int, max_frames: int | None) -> tuple[list[Image.Image], float | None]:
    import imageio_ffmpeg

    # passthrough: every decoded frame comes out once, whatever the container's timestamps say.
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=["-fps_mode", "passthrough"])
    try:
        meta = next(reader)
        width, height = meta["size"]
        fps = float(meta.get("fps") or 0) or None

        def frames() -> Iterator[Image.Image]:
            for data in reader:
                yield Image.frombytes("RGB", (width, height), data)

        taken = _take(frames(), every, max_frames)
    except (OSError, RuntimeError, ValueError, KeyError, StopIteration) as error:
        text = str(error)
        if "does not contain any stream" in text:
            raise VideoInputError(f"video input {path} has no video stream (no frames)") from error
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("===")]
        detail = lines[-1].strip() if lines else type(error).__name__
        raise VideoInputError(f"cannot read video input {path}: {detail}") from error
    finally:
        reader.close()
    return taken, fps


def cover_and_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` scaled to cover ``width``×``height``, its centre cropped (A1111's "crop and
    resize"), in its own mode (a mask keeps its alpha)."""
    if width < 1 or height < 1:
        raise AnimateDiffError(f"cannot resize frames to {width}×{height}")
    return image if image.size == (width, height) else ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)


def resize_frames(frames: Sequence[Image.Image], width: int, height: int) -> list[Image.Image]:
    """Each frame in RGB, scaled to cover ``width``×``height`` and cropped to it (``cover_and_crop``)."""
    return [cover_and_crop(frame if frame.mode == "RGB" else frame.convert("RGB"), width, height) for frame in frames]


class FrameFolder:
    """A temporary folder of one job's frames as ``00000.png`` …, removed on exit unless ``keep``.

    with FrameFolder() as folder:
        folder.save(frames)
        ...  # hand folder.path to a tool that reads frame files
    """

    def __init__(self, parent: Path | None = None, keep: bool = False, prefix: str = "animatediff-frames-") -> None:
        self.parent = Path(parent) if parent is not None else None
        self.keep = keep
        self.prefix = prefix
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            raise RuntimeError("FrameFolder is used outside its 'with' block")
        return self._path

    def __enter__(self) -> FrameFolder:  # noqa: PYI034 - Self needs Python 3.11
        if self.parent is not None:
            self.parent.mkdir(parents=True, exist_ok=True)
        self._path = Path(tempfile.mkdtemp(prefix=self.prefix, dir=self.parent))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if self._path is None:
            return
        if self.keep:
            logger.info(f"frames kept in {self._path}")
        else:
            shutil.rmtree(self._path, ignore_errors=True)

    def save(self, frames: Sequence[Image.Image], start: int = 0) -> list[Path]:
        """Store ``frames`` as PNG files numbered from ``start``."""
        paths = []
        for index, frame in enumerate(frames, start):
            path = self.path / f"{index:05d}.png"
            frame.save(path, format="PNG")
            paths.append(path)
        return paths

    def paths(self) -> list[Path]:
        """The image files in the folder, in natural order."""
        return sorted((p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))

    def load(self) -> list[Image.Image]:
        """Every image in the folder (natural order) as RGB."""
        return read_video_frames(self.path).frames
