"""Video to video with ControlNet: its units get the video's frames, and each context window's
model call sees the hints of exactly its own frames.

Units are fed a folder of frames through their batch fields (:class:`UnitFields`:
sd-webui-controlnet's AnimateDiff fields, or Forge's batch mode); ControlNet then prepares one
hint per frame. sd-webui-controlnet keeps them stacked as ``[cond frames, uncond frames]`` (or
the frames once) on its control parameters, so for the length of each window's call the hints
are narrowed to its rows and put back afterwards (:func:`hints_for_rows`). Forge's runs the
control network on the whole call before the UNet and hands its outputs to the call, which the
video runner narrows with the call's other rows.

Units and control parameters are duck-typed (API dicts or ControlNet's own objects), which
keeps this file free of ControlNet imports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class UnitFields:
    """How a ControlNet extension's units say what they take and are given a folder of frames:
    sd-webui-controlnet's (its AnimateDiff fields ``animatediff_batch`` and ``batch_images``,
    a folder then ``mask:<folder>`` or ``keyframe:<frames>`` lines)."""

    frames_field: str = "batch_images"  # where an API client may send its frames as a list
    # why an IP-Adapter unit cannot take several images here (v1.1.455 builds a two-field
    # ``ImageEmbed`` with three arguments, and A1111 then runs the job without any unit)
    ip_adapter_limit: str = (
        "sd-webui-controlnet cannot run an IP-Adapter on more than one image in AnimateDiff's batch mode (it fails while "
        "preparing the unit, and the job would run without any ControlNet)"
    )

    def has_own_input(self, unit: Any) -> bool:
        """A unit with an image (or, in batch mode, a folder) of its own."""
        return _has_image(unit) or bool(unit_value(unit, "batch_images"))

    def own_batch_folder(self, unit: Any) -> tuple[Path, list[str]] | None:
        """The folder an enabled unit in batch mode brings, and the lines after it; None for any other unit."""
        lines = str(unit_value(unit, "batch_images") or "").splitlines()
        if not (unit_value(unit, "enabled", False) and unit_value(unit, "animatediff_batch", False) and lines):
            return None
        return Path(lines[0].strip()), [line.strip() for line in lines[1:]]

    def takes_frame_list(self, unit: Any) -> bool:
        return bool(unit_value(unit, "animatediff_batch", False))

    def as_sent(self, unit: Any) -> dict[str, Any]:
        """The unit's values that make the ControlNet read it as an API client meant it."""
        return {}

    def cannot_run(self, unit: Any) -> str | None:
        """Why this ControlNet cannot run ``unit`` in an AnimateDiff job, if it cannot."""
        return None

    def fed(self, frames: Path, masks: Path | None) -> dict[str, Any]:
        """The unit's values that give it ``frames`` (and ``masks``), one per frame."""
        return {"animatediff_batch": True, "batch_images": str(frames) + (f"\nmask:{masks}" if masks else "")}


@dataclass(frozen=True)
class ForgeUnitFields(UnitFields):
    """Forge's built-in ControlNet: batch mode is ``input_mode`` (its ``InputMode.BATCH``,
    which the host hands in) over ``batch_image_dir``, masks in ``batch_mask_dir``; one job
    with one hint per batch row, row i from the folder's i-th image in natural order."""

    frames_field: str = "batch_image_dir"
    batch_mode: Any = "batch"
    ip_adapter_limit: str = (
        "Forge's ControlNet runs an IP-Adapter on the first image of a batch only (its preprocessor gives an embedding, "
        "not an image), so every frame would get the first frame's"
    )

    def has_own_input(self, unit: Any) -> bool:
        in_batch = self._in_batch_mode(unit) and bool(unit_value(unit, "batch_image_dir"))
        return _has_image(unit) or in_batch or bool(unit_value(unit, "batch_input_gallery"))

    def own_batch_folder(self, unit: Any) -> tuple[Path, list[str]] | None:
        folder = unit_value(unit, "batch_image_dir")
        if not (unit_value(unit, "enabled", False) and self._in_batch_mode(unit) and isinstance(folder, str) and folder):
            return None
        return Path(folder), []

    def takes_frame_list(self, unit: Any) -> bool:
        return self._in_batch_mode(unit)

    def as_sent(self, unit: Any) -> dict[str, Any]:
        """Batch mode asked for by name (``"input_mode": "batch"`` over the API), which Forge's
        ControlNet compares with its enum and so would take for its simple mode."""
        return {"input_mode": self.batch_mode} if _says_batch(unit_value(unit, "input_mode")) else {}

    def fed(self, frames: Path, masks: Path | None) -> dict[str, Any]:
        return {"input_mode": self.batch_mode, "batch_image_dir": str(frames), "batch_mask_dir": str(masks) if masks else ""}

    def cannot_run(self, unit: Any) -> str | None:
        if "sparsectrl" in _names(unit):
            return (
                "SparseCtrl runs through sd-webui-controlnet, which does not run on Forge, and Forge's ControlNet cannot load "
                "it (it would log an error and sample without the unit)"
            )
        return None

    def _in_batch_mode(self, unit: Any) -> bool:
        mode = unit_value(unit, "input_mode")
        return mode == self.batch_mode or _says_batch(mode)


def _says_batch(mode: Any) -> bool:
    """Batch mode by name, as JSON sends it."""
    return isinstance(mode, str) and mode.lower() == "batch"


SD_WEBUI_CONTROLNET = UnitFields()


def _has_image(unit: Any) -> bool:
    """An image of the unit's own: base64 text, an array (never asked for its truth value), or an
    ``{"image": ..., "mask": ...}`` dict holding one."""
    for name in ("image", "input_image"):
        image = unit_value(unit, name)
        if isinstance(image, Mapping):
            image = image.get("image")
        if image is not None and (not isinstance(image, (str, list, tuple)) or len(image) > 0):
            return True
    return False


def units_to_feed(units: Sequence[Any], fields: UnitFields = SD_WEBUI_CONTROLNET) -> list[Any]:
    """The enabled units that take the video's frames: those without an input of their own."""
    return [unit for unit in units if unit_value(unit, "enabled", False) and not fields.has_own_input(unit)]


def feed_frames(unit: Any, frames: Path, masks: Path | None, stack: UndoStack, fields: UnitFields = SD_WEBUI_CONTROLNET) -> None:
    """Point ``unit`` at a folder of frames (and masks), on ``stack``: the unit (a UI unit may
    outlive the job) has its own values back when the job leaves."""
    set_unit_values(unit, fields.fed(frames, masks), stack)


def set_unit_values(unit: Any, values: Mapping[str, Any], stack: UndoStack) -> None:
    for name, value in values.items():
        if isinstance(unit, dict):
            stack.set_item(unit, name, value)
        else:
            stack.set_attr(unit, name, value)


def own_frame_counts(units: Sequence[Any], count_files: Any, fields: UnitFields = SD_WEBUI_CONTROLNET) -> list[int]:
    """Frames in the batch folders of enabled units that bring their own (``count_files(folder)``).
    A folder with a ``keyframe:`` line holds keyframes (SparseCtrl, IP-Adapter), not frames."""
    counts = []
    for unit in units:
        own = fields.own_batch_folder(unit)
        if own is not None and not any(line.startswith("keyframe:") for line in own[1]):
            counts.append(count_files(own[0]))
    return counts


def _names(unit: Any) -> str:
    """A unit's preprocessor and model names, lower case, ``_`` as ``-``."""
    return f"{unit_value(unit, 'module', '') or ''} {unit_value(unit, 'model', '') or ''}".lower().replace("_", "-")


def is_ip_adapter(unit: Any) -> bool:
    """A unit whose preprocessor or model is an IP-Adapter (by name: ControlNet's own names
    ``ip-adapter_clip_sd15``, ``ip-adapter_sd15``, ``ip-adapter-plus_sd15`` … all say so)."""
    return "ip-adapter" in _names(unit)


def refuse_units_it_cannot_run(units: Sequence[Any], fields: UnitFields = SD_WEBUI_CONTROLNET) -> None:
    """A refusal naming the first enabled unit the ControlNet cannot run (``fields.cannot_run``)."""
    for number, unit in enumerate(units):
        reason = fields.cannot_run(unit) if unit_value(unit, "enabled", False) else None
        if reason is not None:
            raise ParameterError(f"ControlNet unit {number} ({unit_value(unit, 'model', '?')}): {reason}. Disable the unit")


def refuse_ip_adapters_per_frame(
    units: Sequence[Any], fed_a_video: bool, count_files: Any, fields: UnitFields = SD_WEBUI_CONTROLNET
) -> None:
    """An IP-Adapter unit that would take more than one image (its own folder's, or the
    video's frames) is refused with the reason ``fields`` gives: neither ControlNet conditions
    frame by frame with one."""
    for number, unit in enumerate(units):
        if not unit_value(unit, "enabled", False) or not is_ip_adapter(unit):
            continue
        own = fields.own_batch_folder(unit)
        if own is not None and count_files(own[0]) > 1:
            fed = f"the images of {str(own[0])!r}"
        elif fed_a_video and not fields.has_own_input(unit):
            fed = "the video's frames (it has no image of its own)"
        else:
            continue
        raise ParameterError(
            f"ControlNet unit {number} ({unit_value(unit, 'model', '?')}) is an IP-Adapter that would take {fed}: "
            f"{fields.ip_adapter_limit}. Give the unit one image of its own: it then conditions every frame"
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
