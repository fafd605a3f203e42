"""The one parameter type for the accordion, the API and infotext.

Field names are sd-webui-animatediff's, so its API clients work unchanged. Validation
names the field and what it expected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .context import ClosedLoop
from .errors import ParameterError
from .prompt_travel import INTERPOLATION_METHODS

FORMATS = ("GIF", "MP4", "WEBM", "WEBP", "PNG", "TXT")
FUSE_KINDS = ("flat", "pyramid")
INTERP_MODES = ("Off", "FILM")


@dataclass
class AnimateDiffParams:
    model: str = ""
    enable: bool = False
    video_length: int = 16  # frames; 0 = one context window
    fps: int = 8
    loop_number: int = 0  # GIF/WEBP loops, 0 = forever
    closed_loop: str = "R-P"
    batch_size: int = 0  # frames per context window; 0 = the family's default (16 SD 1.5, 8 SDXL)
    stride: int = 1  # levels of dilated windows (as sd-webui-animatediff): 3 gives dilations 1, 2, 4
    overlap: int = -1  # -1 = context // 4
    format: list[str] = field(default_factory=lambda: ["GIF", "PNG"])
    interp: str = "Off"
    interp_x: int = 10
    video_source: Any = None
    video_path: str = ""
    mask_path: str = ""
    latent_power: float = 1.0
    latent_scale: float = 32.0
    last_frame: Any = None
    latent_power_last: float = 1.0
    latent_scale_last: float = 32.0
    request_id: str = ""
    freeinit_enable: bool = False
    freeinit_filter: str = "butterworth"
    freeinit_ds: float = 0.25
    freeinit_dt: float = 0.25
    freeinit_iters: int = 3
    fuse: str = "flat"
    travel_interp: str = "slerp"  # how prompt travel blends keyframe conditionings: slerp or lerp

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> AnimateDiffParams:
        """From a script's arguments: a dict (API), an instance, or positional values.

        A1111's API puts a client's ``args`` over the start of the script's positional
        arguments, so a dict arrives first, followed by the accordion's own values. A lone
        true/false first (the ``webuiapi`` client sends ``[False]`` for every request to a
        WebUI with an AnimateDiff script) is the enable switch, everything else default.
        """
        if args and isinstance(args[0], AnimateDiffParams):
            return args[0]
        if args and isinstance(args[0], Mapping):
            return cls.from_dict(args[0])
        if args and isinstance(args[0], bool):
            return cls.from_dict({"enable": args[0]})
        names = cls.field_names()
        if len(args) > len(names):
            raise ParameterError(f"AnimateDiff takes at most {len(names)} positional arguments ({', '.join(names)}), got {len(args)}")
        return cls.from_dict(dict(zip(names, args)))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AnimateDiffParams:
        known = set(cls.field_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown AnimateDiff argument {unknown[0]!r}; known: {', '.join(cls.field_names())}")
        params = cls(**{key: _coerce(key, value) for key, value in values.items()})
        params.validate()
        return params

    def validate(self) -> None:
        _check(self.video_length >= 0, "video_length", "a number of frames >= 0 (0 = one context window)", self.video_length)
        _check(self.fps > 0, "fps", "a number > 0", self.fps)
        _check(self.loop_number >= 0, "loop_number", "a number >= 0 (0 = loop forever)", self.loop_number)
        loop_modes = [mode.value for mode in ClosedLoop]
        _check(self.closed_loop in loop_modes, "closed_loop", f"one of {', '.join(loop_modes)}", self.closed_loop)
        _check(self.batch_size >= 0, "batch_size", "frames per context window >= 1, or 0 for the default", self.batch_size)
        _check(self.stride >= 1, "stride", "a whole number >= 1 (levels of dilated windows: 3 gives dilations 1, 2, 4)", self.stride)
        _check(self.overlap >= -1, "overlap", "frames >= 0, or -1 for a quarter of the context", self.overlap)
        bad = [f for f in self.format if f not in FORMATS]
        _check(not bad, "format", f"a list of {', '.join(FORMATS)}", self.format)
        _check(self.fuse in FUSE_KINDS, "fuse", f"one of {', '.join(FUSE_KINDS)}", self.fuse)
        _check(self.interp in INTERP_MODES, "interp", f"one of {', '.join(INTERP_MODES)}", self.interp)
        _check(self.interp_x >= 1, "interp_x", "a whole number >= 1", self.interp_x)
        _check(self.travel_interp in INTERPOLATION_METHODS, "travel_interp", f"one of {', '.join(INTERPOLATION_METHODS)}", self.travel_interp)

    @property
    def closed_loop_mode(self) -> ClosedLoop:
        return ClosedLoop(self.closed_loop)


_NUMBER_FIELDS = {f.name: f.type for f in dataclasses.fields(AnimateDiffParams) if f.type in ("int", "float")}


def _coerce(key: str, value: Any) -> Any:
    kind = _NUMBER_FIELDS.get(key)
    if kind is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"AnimateDiff argument {key!r} must be a number, got {type(value).__name__} {value!r}")
        if kind == "int":
            if value != int(value):
                raise ParameterError(f"AnimateDiff argument {key!r} must be a whole number, got {value!r}")
            return int(value)
        return float(value)
    if key in ("enable", "freeinit_enable"):
        if not isinstance(value, bool):
            raise ParameterError(f"AnimateDiff argument {key!r} must be true or false, got {value!r}")
        return value
    if key == "format":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ParameterError(f"AnimateDiff argument 'format' must be a list of {', '.join(FORMATS)}, got {value!r}")
        return [v.upper() for v in value]
    if key in ("model", "closed_loop", "interp", "video_path", "mask_path", "request_id", "freeinit_filter", "fuse", "travel_interp"):
        value = "" if value is None and key in ("video_path", "mask_path", "request_id") else value
        if not isinstance(value, str):
            raise ParameterError(f"AnimateDiff argument {key!r} must be text, got {type(value).__name__} {value!r}")
    return value


def _check(ok: bool, name: str, expected: str, value: Any) -> None:
    if not ok:
        raise ParameterError(f"AnimateDiff argument {name!r} must be {expected}, got {value!r}")
