"""Video inputs a remote API client sends as data, put where the job reads files.

``video_source``, ``video_path`` and ``mask_path`` (and the frame folder of a ControlNet unit in
batch mode: sd-webui-controlnet's ``batch_images``, Forge's ``batch_image_dir``) take a server path; over the API they also take a
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
from .controlnet import SD_WEBUI_CONTROLNET, UnitFields, set_unit_value, set_unit_values, unit_value
from .params import AnimateDiffParams


def with_sent_inputs_on_server(
    params: AnimateDiffParams, units: Sequence[Any], stack: UndoStack, fields: UnitFields = SD_WEBUI_CONTROLNET
) -> AnimateDiffParams:
    """``params`` with each sent video or frame list replaced by the path it was written to;
    ControlNet units (their batch fields as ``fields`` name them) read as sent, their frame
    lists become folders too."""

    def job_folder() -> Path:
        return stack.enter_context(FrameFolder(prefix="animatediff-sent-")).path

    paths = {name: video_input_path(getattr(params, name), name, job_folder) for name in ("video_source", "video_path", "mask_path")}
    for unit in units:
        set_unit_values(unit, fields.as_sent(unit), stack)
        frames = unit_value(unit, fields.frames_field)
        if isinstance(frames, (list, tuple)) and fields.takes_frame_list(unit):
            folder = video_input_path(frames, f"ControlNet unit {fields.frames_field}", job_folder)
            set_unit_value(unit, fields.frames_field, str(folder))
    return dataclasses.replace(
        params,
        video_source=str(paths["video_source"]) if paths["video_source"] else None,
        video_path=str(paths["video_path"]) if paths["video_path"] else "",
        mask_path=str(paths["mask_path"]) if paths["mask_path"] else "",
    )
