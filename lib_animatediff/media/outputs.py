"""From a job's decoded frames to the animation that is saved, and what the API answers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from .interpolation import FrameInterpolator, interpolate, interpolated_fps
from .output_folder import next_stem
from .writers import FRAMES_ONLY, VIDEO_FORMATS, OutputSettings, VideoMeta, write_animation


@dataclass(frozen=True)
class OutputRequest:
    """How one video's frames are saved."""

    formats: tuple[str, ...]
    fps: float
    loop: int = 0  # plays of a GIF/WEBP: 0 forever
    ping_pong: bool = False  # forward then back
    interpolate_x: int = 1  # frames per source frame after interpolation (1: none)
    loops_back: bool = False  # interpolate from the last frame back to the first too


def ping_pong(frames: Sequence[Image.Image]) -> list[Image.Image]:
    """Forward then backward without repeating the end frames: 0 1 2 3 → 0 1 2 3 2 1."""
    return list(frames) + list(frames[-2:0:-1])


def frames_to_save(
    frames: Sequence[Image.Image], request: OutputRequest, film: FrameInterpolator | None = None
) -> tuple[list[Image.Image], float]:
    """The frames and frame rate of the saved animation. Interpolating X inserts frames and
    multiplies the frame rate by X, so the animation keeps its duration; FILM is used when
    given, else the built-in interpolator."""
    frames = ping_pong(frames) if request.ping_pong else list(frames)
    fps = request.fps
    if request.interpolate_x > 1:
        frames = interpolate(frames, request.interpolate_x, loop=request.loops_back, interpolator=film)
        fps = interpolated_fps(fps, request.interpolate_x)
    return frames, fps


def write_video(
    frames: Sequence[Image.Image],
    infotext: str,
    seed: int,
    video: int,
    request: OutputRequest,
    folder: Path,
    settings: OutputSettings,
    film: FrameInterpolator | None = None,
    request_id: str = "",
) -> list[WrittenFile]:
    """One video's decoded ``frames`` (video number ``video`` of a batch count), saved in the
    request's formats into ``folder`` as ``NNNNN-SEED[-REQUEST_ID].<format>``; the files written."""
    formats = [name for name in request.formats if name != FRAMES_ONLY]
    if not formats:
        return []
    frames_of_video, fps = frames_to_save(frames, request, film)
    meta = VideoMeta(fps=fps, loop=request.loop, infotext=infotext)
    paths = write_animation(frames_of_video, folder, next_stem(folder, seed, request_id), formats, meta, settings)
    return [WrittenFile(path, len(frames_of_video), fps, seed, video) for path in paths]


OUTPUTS_INFO_KEY = "AnimateDiff outputs"


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    frames: int
    fps: float
    seed: int
    video: int = 0  # which of the job's videos (batch count) it holds

    @property
    def format(self) -> str:
        return self.path.suffix.lstrip(".").upper()


def encoded_videos(written: Sequence[WrittenFile]) -> list[str]:
    """The written videos (not PNG frames or TXT files), each as base64 of the whole file."""
    return [base64.b64encode(file.path.read_bytes()).decode("ascii") for file in written if file.format in VIDEO_FORMATS]


def outputs_info(written: Sequence[WrittenFile], outputs_root: Path) -> list[dict[str, Any]]:
    """A machine-readable list of the files written: format, path relative to the outputs
    folder, frames, fps, seed, and where a video sits in the answer's ``images`` (else None)."""
    entries = []
    videos = 0
    for file in written:
        index = None
        if file.format in VIDEO_FORMATS:
            index, videos = videos, videos + 1
        path = file.path.relative_to(outputs_root) if file.path.is_relative_to(outputs_root) else file.path
        entries.append(
            {
                "format": file.format,
                "path": path.as_posix(),
                "frames": file.frames,
                "fps": file.fps,
                "seed": file.seed,
                "images_index": index,
            }
        )
    return entries
