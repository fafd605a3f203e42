"""Video to video with sd-webui-controlnet: its units get the video's frames, and each context
window's model call sees the hints of exactly its own frames.

Units are fed through ControlNet's public AnimateDiff fields (``animatediff_batch`` and
``batch_images``: a folder of frames, then optionally ``mask:<folder>`` on its own line);
ControlNet then prepares one hint per frame, stacked as ``[cond frames, uncond frames]`` (or
the frames once). The model calls of a window carry a subset of the sampler's rows, so for
the length of each call the hints are narrowed to those rows and put back afterwards.

Units and control parameters are duck-typed (API dicts or ControlNet's own objects), which
keeps this file free of ControlNet imports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import ParameterError
from ..undo import UndoStack

HINT_ATTRIBUTES = ("hint_cond", "hr_hint_cond")


def unit_value(unit: Any, name: str, default: Any = None) -> Any:
    return unit.get(name, default) if isinstance(unit, Mapping) else getattr(unit, name, default)


def set_unit_value(unit: Any, name: str, value: Any) -> None:
    if isinstance(unit, dict):
        unit[name] = value
    else:
        setattr(unit, name, value)


def has_own_input(unit: Any) -> bool:
    """A unit with an image (or, in ControlNet's batch mode, a folder) of its own."""
    image = unit_value(unit, "image") or unit_value(unit, "input_image")
    if isinstance(image, Mapping):
        image = image.get("image")
    return bool(image is not None and (not isinstance(image, (str, list, tuple)) or len(image) > 0)) or bool(
        unit_value(unit, "batch_images")
    )


def units_to_feed(units: Sequence[Any]) -> list[Any]:
    """The enabled units that take the video's frames: those without an input of their own."""
    return [unit for unit in units if unit_value(unit, "enabled", False) and not has_own_input(unit)]


def feed_frames(unit: Any, frames: Path, masks: Path | None = None) -> None:
    """Point ``unit`` at a folder of frames (and masks) through ControlNet's AnimateDiff fields."""
    set_unit_value(unit, "animatediff_batch", True)
    set_unit_value(unit, "batch_images", str(frames) + (f"\nmask:{masks}" if masks else ""))


def own_batch_folder(unit: Any) -> tuple[Path, list[str]] | None:
    """The folder an enabled unit in ControlNet's AnimateDiff batch mode brings, and the lines
    after it (``mask:<folder>``, ``keyframe:<frames>``); None for any other unit."""
    lines = str(unit_value(unit, "batch_images") or "").splitlines()
    if not (unit_value(unit, "enabled", False) and unit_value(unit, "animatediff_batch", False) and lines):
        return None
    return Path(lines[0].strip()), [line.strip() for line in lines[1:]]


def own_frame_counts(units: Sequence[Any], count_files: Any) -> list[int]:
    """Frames in the batch folders of enabled units that bring their own (``count_files(folder)``).
    A folder with a ``keyframe:`` line holds keyframes (SparseCtrl, IP-Adapter), not frames."""
    counts = []
    for unit in units:
        own = own_batch_folder(unit)
        if own is not None and not any(line.startswith("keyframe:") for line in own[1]):
            counts.append(count_files(own[0]))
    return counts


def is_ip_adapter(unit: Any) -> bool:
    """A unit whose preprocessor or model is an IP-Adapter (by name: ControlNet's own names
    ``ip-adapter_clip_sd15``, ``ip-adapter_sd15``, ``ip-adapter-plus_sd15`` … all say so)."""
    names = f"{unit_value(unit, 'module', '') or ''} {unit_value(unit, 'model', '') or ''}".lower().replace("_", "-")
    return "ip-adapter" in names


def refuse_ip_adapters_per_frame(units: Sequence[Any], fed_a_video: bool, count_files: Any) -> None:
    """sd-webui-controlnet (v1.1.455) fails to prepare an IP-Adapter unit with more than one image
    in its AnimateDiff batch mode (scripts/controlnet.py builds a two-field ``ImageEmbed`` with three
    arguments), and A1111 then runs the whole job without any ControlNet unit: refused instead."""
    for number, unit in enumerate(units):
        if not unit_value(unit, "enabled", False) or not is_ip_adapter(unit):
            continue
        own = own_batch_folder(unit)
        if own is not None and count_files(own[0]) > 1:
            fed = f"the images of {str(own[0])!r}"
        elif fed_a_video and not has_own_input(unit):
            fed = "the video's frames (it has no image of its own)"
        else:
            continue
        raise ParameterError(
            f"ControlNet unit {number} ({unit_value(unit, 'model', '?')}) is an IP-Adapter that would take {fed}: "
            "sd-webui-controlnet cannot run an IP-Adapter on more than one image in AnimateDiff's batch mode (it fails "
            "while preparing the unit, and the job would run without any ControlNet). Give the unit one image of its "
            "own: it then conditions every frame"
        )


def _narrowed(hint: Any, index: torch.Tensor, frames: int, device: torch.device | None, cond_rows: int) -> torch.Tensor | None:
    """The rows of a per-frame hint that belong to the call's rows, on ``device``, or None for
    hints that are not per frame (one image for every frame, or a layout this does not know)."""
    if not isinstance(hint, torch.Tensor) or hint.dim() == 0 or frames < 2:
        return None
    rows = hint.shape[0]
    if rows == frames:  # one hint per frame serves cond and uncond rows alike
        source = index % frames
    elif rows == 2 * frames:  # cond hints, then uncond hints: each sub-prompt's cond rows take the cond half
        source = torch.where(index < cond_rows, index % frames, frames + (index - cond_rows) % frames)
    else:
        return None
    # ControlNet keeps per-frame hints (video frames, SparseCtrl keyframes) on the CPU and casts
    # only their dtype: on a GPU they must follow the model call
    narrowed = hint[source.to(hint.device)]
    return narrowed if device is None else narrowed.to(device)


@contextlib.contextmanager
def hints_for_rows(
    control_params: Sequence[Any], index: torch.Tensor, frames: int, device: torch.device | None = None, cond_rows: int | None = None
) -> Iterator[None]:
    """For one model call made of rows ``index`` of the sampler's call, run on ``device``: every
    per-frame hint narrowed to those rows, there; the full hints are back when the call returns
    or raises. The sampler's rows are ``cond_rows`` cond rows (every AND sub-prompt's video;
    default one video) and then the uncond video."""
    cond_rows = frames if cond_rows is None else cond_rows
    with UndoStack() as call:
        for param in control_params:
            for name in HINT_ATTRIBUTES:
                narrowed = _narrowed(getattr(param, name, None), index, frames, device, cond_rows)
                if narrowed is not None:
                    call.set_attr(param, name, narrowed)
        yield
