"""What a job hands back to the WebUI to show: the animations first, then the frames.

In the UI the result gallery plays the animation itself: A1111 serves an image that carries
``already_saved_as`` from that file instead of re-encoding it as a PNG, so a GIF (or WEBP) opened
from the written file plays in the page. Each item keeps its infotext, so the text under the
gallery and "Send to …" are the job's. API clients get each written video's bytes, as
sd-webui-animatediff's clients expect; the X/Y/Z plot, which draws a cell from its first
image, gets the frames as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from ..media.outputs import WrittenFile, encoded_videos
from ..media.writers import GALLERY_FORMATS, VIDEO_FORMATS


def animation_image(file: WrittenFile) -> Image.Image:
    """The written animation as a gallery item: its first frame, carrying the file, which A1111
    serves as it is (no file handle stays open)."""
    with Image.open(file.path) as opened:
        image = opened.convert("RGB")
    image.already_saved_as = str(file.path)  # A1111's ui_tempdir: serve this file instead of the pixels
    return image


def playable(written: Sequence[WrittenFile], video: int) -> WrittenFile | None:
    """The file of ``video`` a browser plays (GIF before WEBP); None when none was written."""
    files = {file.format: file for file in written if file.video == video}
    return next((files[name] for name in GALLERY_FORMATS if name in files), None)


def show_in_gallery(
    processed: Any, frames: Sequence[Image.Image], written: Sequence[WrittenFile], frames_per_video: int, with_frames: bool
) -> None:
    """``processed`` (A1111's result) shows each video's animation, then its frames when PNG was
    asked; the infotext of an animation is its first frame's. A video written only as MP4 or
    WEBM, which a gallery cannot play, is named with its path under the gallery."""
    infotexts = list(processed.infotexts[processed.index_of_first_image :])
    videos = len(frames) // frames_per_video
    images, texts = [], []
    for video in range(videos):
        file = playable(written, video)
        if file is not None:
            images.append(animation_image(file))
            texts.append(infotexts[video * frames_per_video])
        else:
            paths = ", ".join(str(f.path) for f in written if f.video == video and f.format in VIDEO_FORMATS)
            if paths:
                processed.comments = f"{processed.comments}\nAnimateDiff: video {video + 1} is at {paths}".strip()
    if with_frames or not images:
        whole = videos * frames_per_video
        images += list(frames[:whole])
        texts += infotexts[:whole]
    processed.images, processed.infotexts, processed.index_of_first_image = images, texts, 0


def answer_api(
    processed: Any, frames: Sequence[Image.Image], written: Sequence[WrittenFile], frames_per_video: int, with_frames: bool
) -> None:
    """An API answer's ``images``: the encoded videos, then the frames when PNG was asked."""
    whole = frames[: len(frames) // frames_per_video * frames_per_video]
    processed.images = encoded_videos(written) + (list(whole) if with_frames else [])
