"""Video inputs a remote API client sends as data, put where the job reads files.

``video_source``, ``video_path`` and ``mask_path`` (and the frame folder of a ControlNet unit in
AnimateDiff batch mode, ``batch_images``) take a server path; over the API they also take a
base64 video or data URL, or a list of base64 images (see ``media/video_payload.py``). What is
sent is written into folders on the job's stack, removed when the job leaves, and the job goes
on with their paths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..media.video_input import FrameFolder
from ..media.video_payload import video_input_path
from ..undo import UndoStack
from .controlnet import set_unit_value, unit_value
from .params import AnimateDiffParams


def with_sent_inputs_on_server(params: AnimateDiffParams, units: Sequence[Any], stack: UndoStack) -> AnimateDiffParams:
    """``params`` with each sent video or frame list replaced by the path it was written to;
    ControlNet units' sent frame lists become folders too."""

    def job_folder() -> Path:
        return stack.enter_context(FrameFolder(prefix="animatediff-sent-")).path

    paths = {name: video_input_path(getattr(params, name), name, job_folder) for name in ("video_source", "video_path", "mask_path")}
    for unit in units:
        frames = unit_value(unit, "batch_images")
        if isinstance(frames, (list, tuple)) and unit_value(unit, "animatediff_batch", False):
            set_unit_value(unit, "batch_images", str(video_input_path(frames, "ControlNet unit batch_images", job_folder)))
    return dataclasses.replace(
        params,
        video_source=str(paths["video_source"]) if paths["video_source"] else None,
        video_path=str(paths["video_path"]) if paths["video_path"] else "",
        mask_path=str(paths["mask_path"]) if paths["mask_path"] else "",
    )
