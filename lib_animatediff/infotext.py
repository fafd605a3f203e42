"""The ``AnimateDiff`` infotext entry: written with each frame, read back on paste.

The value is ``model: NAME, model hash: HASH, frames: 16, fps: 8, context: 16, stride: 1,
overlap: -1, closed loop: R-P, version: X`` (A1111 quotes it because of the commas, and
unquotes it when parsing pasted parameters). Pasting fills the accordion back from it.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .freeinit import INFOTEXT_KEY as FREEINIT_KEY
from .freeinit import parse_freeinit_infotext
from .params import AnimateDiffParams, ParameterError

INFOTEXT_KEY = "AnimateDiff"

# infotext name → (AnimateDiffParams field, type)
_FIELDS: dict[str, tuple[str, type]] = {
    "model": ("model", str),
    "frames": ("video_length", int),
    "fps": ("fps", int),
    "context": ("batch_size", int),
    "stride": ("stride", int),
    "overlap": ("overlap", int),
    "closed loop": ("closed_loop", str),
    "interp": ("interp", str),
    "interp x": ("interp_x", int),
    "latent power": ("latent_power", float),
    "latent scale": ("latent_scale", float),
    "latent power last": ("latent_power_last", float),
    "latent scale last": ("latent_scale_last", float),
}


def animatediff_infotext(
    params: AnimateDiffParams, model_name: str, model_hash: str, frames: int, context: int, version: str, img2img: bool = False
) -> str:
    """Everything that shapes the animation; interpolation only when on, latent settings only in img2img."""
    parts = [
        f"model: {model_name}", f"model hash: {model_hash}", f"frames: {frames}", f"fps: {params.fps}", f"context: {context}",
        f"stride: {params.stride}", f"overlap: {params.overlap}", f"closed loop: {params.closed_loop}",
    ]  # fmt: skip
    if params.interp != "Off":
        parts += [f"interp: {params.interp}", f"interp x: {params.interp_x}"]
    if img2img:
        parts += [
            f"latent power: {params.latent_power}", f"latent scale: {params.latent_scale}",
            f"latent power last: {params.latent_power_last}", f"latent scale last: {params.latent_scale_last}",
        ]  # fmt: skip
    return ", ".join(parts + [f"version: {version}"])


_NAMES = ("model hash", "version", *sorted(_FIELDS, key=len, reverse=True))
# Entries split only where a known name follows, so values keep their own commas and colons
# (a motion module called "mm, take 2: final.ckpt").
_ENTRY_START = re.compile(r",\s*(?=(?:" + "|".join(map(re.escape, _NAMES)) + r"):\s)")


def parse_animatediff_infotext(text: str) -> dict[str, Any]:
    """The AnimateDiffParams fields an ``AnimateDiff`` infotext value records."""
    values: dict[str, Any] = {}
    for part in _ENTRY_START.split(text):
        name, colon, value = part.partition(": ")
        name, value = name.strip(), value.strip()
        if not colon or name not in _FIELDS:
            continue
        field, kind = _FIELDS[name]
        try:
            values[field] = kind(value)
        except ValueError:
            raise ParameterError(f"infotext {INFOTEXT_KEY}: {name} {value!r} is not a {kind.__name__}") from None
    return values


# Version 0.2.0 gave stride and latent scale sd-webui-animatediff's meanings (see below).
_SWA_MEANINGS = (0, 2, 0)
_VERSION = re.compile(r"(?:^|,\s*)version:\s*(\d+)\.(\d+)\.(\d+)")


def recorded_version(text: str) -> tuple[int, int, int] | None:
    """The extension version an ``AnimateDiff`` infotext value was written by, if it says."""
    match = _VERSION.search(text)
    return tuple(int(part) for part in match.groups()) if match else None  # type: ignore[return-value]


def read_old_meanings(values: dict[str, Any], version: tuple[int, int, int] | None) -> dict[str, Any]:
    """Fields written before 0.2.0 in today's meanings, so old images paste back as they were made.

    Then ``stride`` was the largest dilation (1, 2, 4, ...), now it counts the levels (4 → 3);
    a frame's first-image weight was ``1 - (i / scale)^power``, now ``1 - i^power / scale``, the
    same curve with ``scale^power`` (exact without a last frame; the last frame's blend changed).
    """
    if version is None or version >= _SWA_MEANINGS:
        return values
    values = dict(values)
    if "stride" in values:
        values["stride"] = max(1, int(values["stride"]).bit_length())
    for power, scale in (("latent_power", "latent_scale"), ("latent_power_last", "latent_scale_last")):
        if scale in values:
            values[scale] = float(values[scale]) ** float(values.get(power, 1.0))
    return values


def pasted_values(infotext: dict[str, str]) -> dict[str, Any]:
    """AnimateDiffParams fields from A1111's parsed infotext (``{"AnimateDiff": "...", ...}``);
    empty when the image was not made by AnimateDiff."""
    if INFOTEXT_KEY not in infotext:
        return {}
    text = str(infotext[INFOTEXT_KEY])
    values = {"enable": True, "interp": "Off", **read_old_meanings(parse_animatediff_infotext(text), recorded_version(text))}
    freeinit = infotext.get(FREEINIT_KEY)
    values["freeinit_enable"] = freeinit is not None
    if freeinit is not None:
        settings = parse_freeinit_infotext(str(freeinit))
        values.update(
            freeinit_filter=settings.filter, freeinit_ds=settings.d_s, freeinit_dt=settings.d_t, freeinit_iters=settings.iterations
        )
    return values


def paste_reader(field: str) -> Callable[[dict[str, str]], Any]:
    """For A1111's ``infotext_fields``: reads one field from pasted parameters, None to leave
    the component as it is (not an AnimateDiff image, or the field not recorded)."""

    def read(infotext: dict[str, str]) -> Any:
        return pasted_values(infotext).get(field)

    return read
