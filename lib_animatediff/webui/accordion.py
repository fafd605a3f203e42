"""Where each field sits in the AnimateDiff accordion (the script builds it from this and the
fields' facts in ``params.py``). ``enable`` is the accordion's own checkbox and ``model`` heads
it, with the module buttons; a field not placed here is shown after the rest, so a new field
needs nothing but its facts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..media.video_input import video_rate


@dataclass(frozen=True)
class Row:
    fields: tuple[str, ...]

    def __init__(self, *fields: str) -> None:
        object.__setattr__(self, "fields", fields)


@dataclass(frozen=True)
class Section:
    """A closed sub-accordion."""

    title: str
    items: tuple[str | Row, ...]
    img2img_only: bool = False


HEADER = ("enable", "model")
LAYOUT: tuple[str | Row | Section, ...] = (
    Row("video_length", "fps", "loop_number"),
    Row("frames_per_window", "dilation_levels", "overlap"),
    Row("context_schedule", "pe_stretch"),
    "freenoise",
    "closed_loop",
    "format",
    Row("interp", "interp_x"),
    Section("Video source", ("video_source", "video_path", "mask_path")),
    Section(
        "img2img: first and last frame",
        (Row("latent_power", "latent_scale"), "last_frame", Row("latent_power_last", "latent_scale_last")),
        img2img_only=True,
    ),
    Section(
        "FreeInit (several sampling passes, steadier motion)",
        ("freeinit_enable", Row("freeinit_filter", "freeinit_iters"), Row("freeinit_ds", "freeinit_dt")),
    ),
    Section("Motion strength", (Row("motion_scale", "motion_attention_scale"), Row("motion_start", "motion_end"))),
    Row("fuse", "travel_interp"),
    "request_id",
)


def accordion_layout(fields: list[str]) -> tuple[str | Row | Section, ...]:
    """:data:`LAYOUT`, then every field of ``fields`` it does not place (nor :data:`HEADER`)."""
    placed = {*HEADER, *laid_out_fields(LAYOUT)}
    return (*LAYOUT, *(name for name in fields if name not in placed))


def laid_out_fields(items: tuple[str | Row | Section, ...] = LAYOUT) -> Iterator[str]:
    """Every field of ``items``, in the order they are shown."""
    for item in items:
        if isinstance(item, str):
            yield item
        elif isinstance(item, Row):
            yield from item.fields
        else:
            yield from laid_out_fields(item.items)


def settings_from_video(video: Any, fps: float, frames: float) -> tuple[float, float]:
    """What loading a video source into the accordion sets: the FPS to the video's own rate and
    the number of frames to 0 (as long as the video); cleared, the fields stay as they are."""
    path = (video.get("name") or video.get("path")) if isinstance(video, dict) else video
    if not path:
        return fps, frames
    rate = video_rate(path)
    return (round(rate) if rate else fps), 0
