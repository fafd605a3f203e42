"""The ``AnimateDiff`` infotext entry: written with each frame, read back on paste.

Its value is built from the fields' facts (``params.py``: each field's infotext key and when it
is recorded), e.g. ``model: NAME, model hash: HASH, frames: 16, fps: 8, context: 16, stride: 1,
overlap: -1, closed loop: R-P, blend: flat, travel blend: slerp, version: X``; A1111 quotes it
because of the commas and unquotes it when parsing pasted parameters. Pasting fills the
accordion back from it, and also reads what older versions and sd-webui-animatediff wrote:
the separate ``FreeInit`` entry of 0.1.x, the meanings of stride and latent scale before
0.2.0, and sd-webui-animatediff's JSON object of argument names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ParameterError
from .params import PARAMS, AnimateDiffParams, from_text

INFOTEXT_KEY = "AnimateDiff"
LEGACY_FREEINIT_KEY = "FreeInit"  # 0.1.x wrote FreeInit's settings as an entry of their own

_FIELD_OF_KEY = {param.infotext: name for name, param in PARAMS.items() if param.infotext}


def animatediff_infotext(
    params: AnimateDiffParams, model_hash: str, version: str, img2img: bool = False, used: Mapping[str, Any] | None = None
) -> str:
    """Every recorded field of the job's request ``params``, each where its facts say it
    applies; ``used`` holds the values the job resolved and ran with in place of the request's
    (the module's file name as ``model``, the frames, the context, the frame rate)."""
    used = used or {}
    parts = []
    for name, param in PARAMS.items():
        if param.infotext is None or (param.recorded_if is not None and not param.recorded_if(params, img2img)):
            continue
        parts.append(f"{param.infotext}: {used.get(name, getattr(params, name))}")
        if name == "model":
            parts.append(f"model hash: {model_hash}")
    return ", ".join([*parts, f"version: {version}"])


_NAMES = ("model hash", "version", *sorted(_FIELD_OF_KEY, key=len, reverse=True))
# Entries split only where a known name follows, so values keep their own commas and colons
# (a motion module called "mm, take 2: final.ckpt").
_ENTRY_START = re.compile(r",\s*(?=(?:" + "|".join(map(re.escape, _NAMES)) + r"):\s)")


def parse_animatediff_infotext(text: str) -> dict[str, Any]:
    """The AnimateDiffParams fields an ``AnimateDiff`` infotext value records."""
    values: dict[str, Any] = {}
    for part in _ENTRY_START.split(text):
        key, colon, value = part.partition(": ")
        key, value = key.strip(), value.strip()
        if colon and key in _FIELD_OF_KEY:
            values[_FIELD_OF_KEY[key]] = _typed(_FIELD_OF_KEY[key], value, f"infotext {INFOTEXT_KEY}: {key}")
    return values


def _typed(name: str, value: Any, where: str) -> Any:
    try:
        return from_text(name, value)
    except ValueError as error:
        raise ParameterError(f"{where} {error}") from None


# Version 0.2.0 gave stride and latent scale sd-webui-animatediff's meanings (see below).
_SWA_MEANINGS = (0, 2, 0)
_VERSION = re.compile(r"(?:^|,\s*)version:\s*(\d+)\.(\d+)\.(\d+)")


def recorded_version(text: str) -> tuple[int, int, int] | None:
    """The extension version an ``AnimateDiff`` infotext value was written by, if it says."""
    match = _VERSION.search(text)
    return tuple(int(part) for part in match.groups()) if match else None  # type: ignore[return-value]


def read_old_meanings(values: dict[str, Any], version: tuple[int, int, int] | None) -> dict[str, Any]:
    """Fields written before 0.2.0 in today's meanings, so old images paste back as they were made.

    Then ``stride`` was the largest dilation (1, 2, 4, ...), now it counts the levels (4 → 3: ``dilation_levels``);
    a frame's first-image weight was ``1 - (i / scale)^power``, now ``1 - i^power / scale``, the
    same curve with ``scale^power`` (exact without a last frame; the last frame's blend changed).
    """
    if version is None or version >= _SWA_MEANINGS:
        return values
    values = dict(values)
    if "dilation_levels" in values:
        values["dilation_levels"] = max(1, int(values["dilation_levels"]).bit_length())
    for power, scale in (("latent_power", "latent_scale"), ("latent_power_last", "latent_scale_last")):
        if scale in values:
            values[scale] = float(values[scale]) ** float(values.get(power, 1.0))
    return values


_LEGACY_FREEINIT = re.compile(r"\s*(\w+)\s+d_s=(\S+)\s+d_t=(\S+)\s+iterations=(\d+)\s*")


def read_legacy_freeinit(text: str) -> dict[str, Any]:
    """The fields of 0.1.x's separate ``FreeInit: butterworth d_s=0.25 d_t=0.25 iterations=3`` entry."""
    match = _LEGACY_FREEINIT.fullmatch(text)
    if match is None:
        raise ParameterError(f"infotext {LEGACY_FREEINIT_KEY} {text!r} is not of the form 'butterworth d_s=0.25 d_t=0.25 iterations=3'")
    kind, d_s, d_t, iterations = match.groups()
    where = f"infotext {LEGACY_FREEINIT_KEY}"
    return {
        "freeinit_enable": True, "freeinit_filter": kind, "freeinit_ds": _typed("freeinit_ds", d_s, where),
        "freeinit_dt": _typed("freeinit_dt", d_t, where), "freeinit_iters": _typed("freeinit_iters", iterations, where),
    }  # fmt: skip


def read_swa_json(text: str) -> dict[str, Any]:
    """The fields of sd-webui-animatediff's entry, a JSON object of argument names (ours too);
    names that are no argument here (its ``mm_hash``) are left out."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise ParameterError(f"infotext {INFOTEXT_KEY} {text[:80]!r} is not valid JSON") from None
    return {name: _typed(name, value, f"infotext {INFOTEXT_KEY}: {name}") for name, value in raw.items() if name in PARAMS}


def pasted_values(infotext: dict[str, str]) -> dict[str, Any]:
    """AnimateDiffParams fields from A1111's parsed infotext (``{"AnimateDiff": "...", ...}``);
    empty when the image was not made by AnimateDiff."""
    if INFOTEXT_KEY not in infotext:
        return {}
    text = str(infotext[INFOTEXT_KEY]).strip()
    if text.startswith("{"):
        recorded = read_swa_json(text)
    else:
        recorded = read_old_meanings(parse_animatediff_infotext(text), recorded_version(text))
        recorded["freeinit_enable"] = "freeinit_filter" in recorded
    values = {"enable": True, "interp": "Off", "freeinit_enable": False, **recorded}
    if LEGACY_FREEINIT_KEY in infotext:
        values.update(read_legacy_freeinit(str(infotext[LEGACY_FREEINIT_KEY])))
    return values


def paste_reader(field: str) -> Callable[[dict[str, str]], Any]:
    """For A1111's ``infotext_fields``: reads one field from pasted parameters, None to leave
    the component as it is (not an AnimateDiff image, or the field not recorded)."""

    def read(infotext: dict[str, str]) -> Any:
        return pasted_values(infotext).get(field)

    return read
