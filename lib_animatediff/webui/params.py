"""The one parameter type for the accordion, the API, infotext and the X/Y/Z plot.

Each field of :class:`AnimateDiffParams` carries its facts once, in its metadata
(:class:`Param`): UI label, hint and widget, allowed values, infotext key, X/Y/Z axis label.
The accordion, paste-back, the infotext entry, the X/Y/Z axes and the hover hints are all
built from them. The API names (:data:`API_NAMES`), and the positional order, are
sd-webui-animatediff's, so its API clients work unchanged; inside, a field is named for what it
is (its ``batch_size`` is :attr:`frames_per_window`, its ``stride`` :attr:`dilation_levels`).
Values are validated once, on creation, and the object is frozen: the request stays as sent
(what it resolves to, the frames of a video source or the module's context, is the job's plan).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ParameterError, shorten
from ..fusion import FUSION_KINDS
from ..media.interpolation import INTERP_MODES
from ..media.outputs import OutputRequest
from ..media.writers import FORMATS, FRAMES_ONLY, format_names
from ..sampling.context import SCHEDULE_KINDS, ClosedLoop
from ..sampling.freeinit import FILTER_KINDS
from ..sampling.motion_scale import EXAMPLE as MOTION_SCALE_EXAMPLE
from ..sampling.motion_scale import parses as motion_scale_parses
from ..sampling.plan import JobPlan, WindowRequest
from ..sampling.prompt_travel import INTERPOLATION_METHODS

CLOSED_LOOP_MODES = tuple(mode.value for mode in ClosedLoop)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]{0,64}")


@dataclass(frozen=True)
class Widget:
    """How the accordion shows a field: a gradio component kind and its few settings."""

    kind: str  # dropdown | number | slider | radio | checkbox | checkbox_group | textbox | image | video | hidden
    precision: int | None = None  # number: 0 for whole numbers
    minimum: float | None = None  # slider
    maximum: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class Param:
    """The facts of one AnimateDiff argument (the field's name is its API name)."""

    label: str  # the accordion's label, also the key of its hover hint
    hint: str
    widget: Widget
    check: Callable[[Any], bool] | None = None  # on the coerced value
    expected: str = ""  # what ``check`` asks for, for the error message
    choices: Sequence[str] = ()  # allowed values (and the widget's choices)
    infotext: str | None = None  # key in the ``AnimateDiff`` infotext entry
    recorded_if: Callable[[AnimateDiffParams, bool], bool] | None = None  # (params, img2img): written then only
    xyz: str | None = None  # X/Y/Z plot axis label
    img2img_only: bool = False

    def allows(self, value: Any) -> bool:
        values = value if isinstance(value, list) else [value]
        if self.choices and any(item not in self.choices for item in values):
            return False
        return self.check is None or self.check(value)

    def wanted(self) -> str:
        return self.expected or f"one of {', '.join(self.choices)}"


def _param(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None, **facts: Any) -> Any:
    meta = {"animatediff": Param(**facts)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _number(precision: int | None = None) -> Widget:
    return Widget("number", precision=precision)


def _at_least(minimum: float) -> Callable[[Any], bool]:
    return lambda value: value >= minimum


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _fraction(value: float) -> bool:
    return 0 < value <= 1


def _in_img2img(params: AnimateDiffParams, img2img: bool) -> bool:
    return img2img


def _interpolating(params: AnimateDiffParams, img2img: bool) -> bool:
    return params.interp != "Off"


def _with_freeinit(params: AnimateDiffParams, img2img: bool) -> bool:
    return params.freeinit_enable


@dataclass(frozen=True)
class AnimateDiffParams:
    model: str = _param(
        "", label="Motion module", widget=Widget("dropdown"), infotext="model", xyz="Motion module",
        hint="AnimateDiff motion module from the extension's model folder; its family (v1, v2, v3, AnimateLCM, SDXL, "
        "HotShot-XL) is recognised from the file.",
    )  # fmt: skip
    enable: bool = _param(False, label="Enable AnimateDiff", widget=Widget("checkbox"), xyz="Enabled", hint="Animate this job.")
    video_length: int = _param(
        16, label="Number of frames", widget=_number(0), check=_at_least(0), expected="a number of frames >= 0 (0 = one context window)",
        infotext="frames", xyz="Frames",
        hint="Frames of the animation. 0 = one context window. More frames than the context are denoised in sliding windows.",
    )  # fmt: skip
    fps: int = _param(
        8, label="FPS", widget=_number(0), check=_at_least(0), expected="a number >= 0 (0: the video source's rate)", infotext="fps",
        xyz="FPS", hint="Frames per second of the saved animation; 0: the video source's own rate (8 without a video source).",
    )  # fmt: skip
    loop_number: int = _param(
        0, label="Display loop number", widget=_number(0), check=_at_least(0), expected="a number >= 0 (0 = loop forever)",
        hint="How many times a GIF or WEBP plays; 0 = forever.",
    )  # fmt: skip
    closed_loop: str = _param(
        "R-P", label="Closed loop", widget=Widget("radio"), choices=CLOSED_LOOP_MODES, infotext="closed loop", xyz="Closed loop",
        hint="N: no loop. R-P: windows wrap around so the end flows into the start (prompt travel not looped). R+P: the same, "
        "prompt travel looped. A: always keep the seam inside a window, for the strongest loop.",
    )  # fmt: skip
    frames_per_window: int = _param(
        0, label="Context batch size (0 = what the module was trained on: 16, HotShot-XL 8)", widget=_number(0), check=_at_least(0),
        expected="frames per context window >= 1, or 0 for the module's default", infotext="context", xyz="Context batch size",
        hint="Frames the motion module sees at once. Keep it at the module's training length (16; 8 for HotShot-XL).",
    )  # fmt: skip
    dilation_levels: int = _param(
        1, label="Stride", widget=_number(0), check=_at_least(1),
        expected="a whole number >= 1 (levels of dilated windows: 3 gives dilations 1, 2, 4)", infotext="stride", xyz="Stride",
        hint="Levels of context windows: 1 = contiguous windows only; 2 adds windows of every 2nd frame, 3 also every 4th, ... "
        "Links distant frames for smoother long motion, at more windows per step.",
    )  # fmt: skip
    overlap: int = _param(
        -1, label="Overlap (-1 = context / 4)", widget=_number(0), check=_at_least(-1),
        expected="frames >= 0, or -1 for a quarter of the context", infotext="overlap", xyz="Overlap",
        hint="Frames shared by neighbouring context windows; more overlap blends windows more smoothly, at more windows per step.",
    )  # fmt: skip
    format: list[str] = _param(
        factory=lambda: ["GIF", "PNG"], label="Save format", widget=Widget("checkbox_group"), check=lambda value: len(value) > 0,
        expected=f"a non-empty list of {', '.join((*FORMATS, FRAMES_ONLY))}", choices=(*FORMATS, FRAMES_ONLY),
        hint="Files to write for each animation: GIF, MP4 (H.264), WEBM (VP9), WEBP, PNG frames with their parameters, TXT infotext; "
        "FRAME: the frames come back (gallery, API answer) without files of their own.",
    )  # fmt: skip
    interp: str = _param(
        "Off", label="Frame interpolation", widget=Widget("radio"), choices=INTERP_MODES, infotext="interp",
        recorded_if=_interpolating, xyz="Frame interpolation",
        hint="Insert frames between the generated ones: FILM, Deforum's network (needs the sd-webui-deforum extension and its "
        "FILM model), or Optical flow, built in (OpenCV).",
    )  # fmt: skip
    interp_x: int = _param(
        10, label="Interp X", widget=_number(0), check=_at_least(1), expected="a whole number >= 1", infotext="interp x",
        recorded_if=_interpolating, xyz="Interp X",
        hint="Frames per original frame after interpolation; the frame rate is multiplied too, so the animation keeps its length.",
    )  # fmt: skip
    video_source: Any = _param(
        None, label="Video source", widget=Widget("video"),
        hint="A video whose frames guide the animation (img2img: each frame's init image; ControlNet units without an image of "
        "their own).",
    )  # fmt: skip
    video_path: Any = _param(
        "", label="Video path (a video file or a folder of frames)", widget=Widget("textbox"),
        hint="Same as the video source, given as a path on the server (the API also takes a base64 video or a list of base64 "
        "images); an uploaded video wins.",
    )  # fmt: skip
    mask_path: Any = _param(
        "", label="Mask path (a folder of masks)", widget=Widget("textbox"),
        hint="A folder of per-frame masks, in name order (the API also takes a list of base64 images).",
    )
    freeinit_enable: bool = _param(
        False, label="Enable FreeInit", widget=Widget("checkbox"), xyz="FreeInit",
        hint="Sample several times; each pass restarts from the previous result's low frequencies and fresh fine noise, for "
        "steadier motion at N times the time.",
    )  # fmt: skip
    freeinit_filter: str = _param(
        "butterworth", label="FreeInit filter", widget=Widget("dropdown"), choices=FILTER_KINDS, infotext="freeinit filter",
        recorded_if=_with_freeinit,
        hint="Low-pass filter that decides which frequencies of the previous pass are kept: butterworth (smooth), gaussian, box or "
        "ideal (sharp).",
    )  # fmt: skip
    freeinit_ds: float = _param(
        0.25, label="Spatial cut-off d_s", widget=Widget("slider", minimum=0.01, maximum=1.0, step=0.01), check=_fraction,
        expected="a number in (0, 1] (a fraction of the highest frequency)", infotext="freeinit d_s", recorded_if=_with_freeinit,
        hint="FreeInit's spatial cut-off, as a fraction of the highest frequency.",
    )  # fmt: skip
    freeinit_dt: float = _param(
        0.25, label="Temporal cut-off d_t", widget=Widget("slider", minimum=0.01, maximum=1.0, step=0.01), check=_fraction,
        expected="a number in (0, 1] (a fraction of the highest frequency)", infotext="freeinit d_t", recorded_if=_with_freeinit,
        hint="FreeInit's temporal cut-off, as a fraction of the highest frequency.",
    )  # fmt: skip
    freeinit_iters: int = _param(
        3, label="FreeInit passes", widget=_number(0), check=_at_least(1), expected="a whole number >= 1 (sampling passes in all)",
        infotext="freeinit passes", recorded_if=_with_freeinit, xyz="FreeInit passes",
        hint="Sampling passes in all; 1 = plain sampling.",
    )  # fmt: skip
    latent_power: float = _param(
        1.0, label="Latent power", widget=_number(), check=_positive, expected="a number > 0", infotext="latent power",
        recorded_if=_in_img2img, xyz="Latent power", img2img_only=True,
        hint="Shape of the first frame's fade (img2img): frame i keeps 1 - i^power / scale of it; a larger power holds it longer, "
        "then drops faster.",
    )  # fmt: skip
    latent_scale: float = _param(
        32.0, label="Latent scale", widget=_number(), check=_positive, expected="a number > 0", infotext="latent scale",
        recorded_if=_in_img2img, xyz="Latent scale", img2img_only=True,
        hint="Size of the first frame's fade (img2img): it is gone at frame scale^(1/power); larger is slower.",
    )  # fmt: skip
    last_frame: Any = _param(
        None, label="Last frame (optional)", widget=Widget("image"), hint="An image the animation should end on (img2img)."
    )
    latent_power_last: float = _param(
        1.0, label="Latent power (last frame)", widget=_number(), check=_positive, expected="a number > 0",
        infotext="latent power last", recorded_if=_in_img2img, xyz="Latent power (last frame)", img2img_only=True,
        hint="Shape of the last frame's fade towards the start, as latent power.",
    )  # fmt: skip
    latent_scale_last: float = _param(
        32.0, label="Latent scale (last frame)", widget=_number(), check=_positive, expected="a number > 0",
        infotext="latent scale last", recorded_if=_in_img2img, xyz="Latent scale (last frame)", img2img_only=True,
        hint="Size of the last frame's fade towards the start, as latent scale.",
    )  # fmt: skip
    request_id: str = _param(
        "", label="Request id", widget=Widget("hidden"), check=lambda value: _PLAIN_NAME.fullmatch(value) is not None,
        expected="a plain name: at most 64 ASCII letters, digits, '_' and '-'",
        hint="Added to the output file names, so an API client finds its files.",
    )  # fmt: skip
    fuse: str = _param(
        "flat", label="Overlapping windows blend", widget=Widget("radio"), choices=FUSION_KINDS, infotext="blend",
        hint="How overlapping context windows are averaged: flat, or pyramid (a window's middle frames count more).",
    )  # fmt: skip
    travel_interp: str = _param(
        "slerp", label="Prompt travel blend", widget=Widget("radio"), choices=INTERPOLATION_METHODS, infotext="travel blend",
        hint="How frames between keyframe prompts blend the keyframes' conditioning: slerp (keeps its scale) or lerp.",
    )  # fmt: skip
    freenoise: bool = _param(
        False, label="FreeNoise", widget=Widget("checkbox"), infotext="freenoise", recorded_if=lambda params, img2img: params.freenoise,
        xyz="FreeNoise",
        hint="Long videos: every window starts from the first window's noise, shuffled in local stretches (FreeNoise), so far-apart "
        "windows stay alike.",
    )  # fmt: skip
    context_schedule: str = _param(
        "uniform", label="Context schedule", widget=Widget("radio"), choices=SCHEDULE_KINDS, infotext="schedule",
        recorded_if=lambda params, img2img: params.context_schedule != "uniform", xyz="Context schedule",
        hint="uniform: overlapping windows that shift every step; static: the same windows every step; batched: windows that do "
        "not overlap (no stride, overlap or closed loop); views: the model sees every frame at once, the motion module attends "
        "in windows (more memory).",
    )  # fmt: skip
    pe_stretch: int = _param(
        0, label="Stretch positions over (frames; 0 = off)", widget=_number(0), check=_at_least(0),
        expected="0 (off), or a window length of at least the frames the module was trained on", infotext="pe stretch",
        recorded_if=lambda params, img2img: params.pe_stretch != 0, xyz="PE stretch",
        hint="Lets windows grow past what the module supports: a window of this many frames is laid over the positions of the "
        "frames the module was trained on (16; HotShot-XL 8). 0 = as trained.",
    )  # fmt: skip
    motion_scale: str = _param(
        "1", label="Motion scale", widget=Widget("textbox"), check=motion_scale_parses, expected=MOTION_SCALE_EXAMPLE,
        infotext="motion scale", recorded_if=lambda params, img2img: params.motion_scale != "1", xyz="Motion scale",
        hint="How strongly the motion module acts: 0 = not at all, 1 = as trained, more = exaggerated; one number, or frame keys "
        "('0-7: 1.0, 8-15: 0.6'), interpolated between keys.",
    )  # fmt: skip
    motion_start: float = _param(
        0.0, label="Motion from (fraction of the steps)", widget=Widget("slider", minimum=0.0, maximum=1.0, step=0.01),
        check=lambda value: 0 <= value < 1, expected="a fraction of the steps in [0, 1)", infotext="motion start",
        recorded_if=lambda params, img2img: params.motion_start != 0, xyz="Motion from",
        hint="The motion module acts from this point of sampling on (0 = from the first step).",
    )  # fmt: skip
    motion_end: float = _param(
        1.0, label="Motion until (fraction of the steps)", widget=Widget("slider", minimum=0.0, maximum=1.0, step=0.01),
        check=lambda value: 0 < value <= 1, expected="a fraction of the steps in (0, 1]", infotext="motion end",
        recorded_if=lambda params, img2img: params.motion_end != 1, xyz="Motion until",
        hint="The motion module acts until this point of sampling (1 = to the last step).",
    )  # fmt: skip
    motion_attention_scale: float = _param(
        1.0, label="Motion attention scale", widget=_number(), check=_positive, expected="a number > 0",
        infotext="motion attention scale", recorded_if=lambda params, img2img: params.motion_attention_scale != 1,
        xyz="Motion attention scale",
        hint="Temperature of the motion module's attention across frames (multiplies its 1/sqrt(d)): above 1 frames follow "
        "their most similar frames more sharply (often more motion), below 1 they blend more evenly (less); 1 = as trained.",
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name, param in PARAMS.items():
            value = _coerce(name, getattr(self, name))
            if not param.allows(value):
                raise ParameterError(f"AnimateDiff argument {api_name(name)!r} must be {param.wanted()}, got {value!r}")
            object.__setattr__(self, name, value)
        if self.motion_start >= self.motion_end:
            raise ParameterError(
                f"AnimateDiff argument 'motion_start' ({self.motion_start}) must be before 'motion_end' ({self.motion_end})"
            )

    @classmethod
    def api_names(cls) -> list[str]:
        """The argument names an API client sends, in positional order."""
        return [api_name(name) for name in PARAMS]

    @classmethod
    def from_args(cls, args: Sequence[Any]) -> AnimateDiffParams:
        """From a script's arguments: a dict (API), an instance, or positional values.

        A1111's API puts a client's ``args`` over the start of the script's positional
        arguments, so a dict arrives first, followed by the accordion's own values. A lone
        true/false first (the ``webuiapi`` client sends ``[False]`` for every request to a
        WebUI with an AnimateDiff script) is the enable switch, everything else default.
        Anything else is the documented positional list, in field order.
        """
        if args and isinstance(args[0], AnimateDiffParams):
            return args[0]
        if args and isinstance(args[0], Mapping):
            return cls.from_dict(args[0])
        if args and isinstance(args[0], bool):
            return cls.from_dict({"enable": args[0]})
        names = cls.api_names()
        if len(args) > len(names):
            raise ParameterError(f"AnimateDiff takes at most {len(names)} positional arguments ({', '.join(names)}), got {len(args)}")
        if args and not isinstance(args[0], str | type(None)):
            raise ParameterError(
                f"AnimateDiff's args must be one dict of named arguments or the positional list ({', '.join(names)}); "
                f"the first value is a {type(args[0]).__name__}: {args[0]!r}"
            )
        return cls(**dict(zip(PARAMS, args)))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AnimateDiffParams:
        """From named arguments: the API names, or the fields' own names."""
        fields: dict[str, Any] = {}
        for name, value in values.items():
            field_name = _FIELD_OF_API_NAME.get(name, name)
            if field_name not in PARAMS:
                raise ParameterError(f"unknown AnimateDiff argument {name!r}; known: {', '.join(cls.api_names())}")
            if field_name in fields:
                raise ParameterError(f"AnimateDiff argument {api_name(field_name)!r} is given twice (as {field_name!r} too)")
            fields[field_name] = value
        return cls(**fields)

    @property
    def closed_loop_mode(self) -> ClosedLoop:
        return ClosedLoop(self.closed_loop)

    def window_request(self, frames: int | None = None) -> WindowRequest:
        """The frames (``frames``: as resolved from a video source; None: as asked) and windows
        asked for, in the planner's terms."""
        return WindowRequest(
            frames=self.video_length if frames is None else frames, frames_per_window=self.frames_per_window, overlap=self.overlap,
            dilation_levels=self.dilation_levels,
            closed_loop=self.closed_loop_mode, schedule=self.context_schedule, pe_stretch=self.pe_stretch,
        )  # fmt: skip

    def output_request(self, plan: JobPlan, fps: int | None = None) -> OutputRequest:
        """How the animation of ``plan`` is saved (at ``fps``: as resolved from a video source;
        None: as asked). Closed loop A on a video of one context window plays forward then back,
        as users of that mode expect."""
        return OutputRequest(
            formats=tuple(self.format), fps=float(self.fps if fps is None else fps), loop=self.loop_number,
            ping_pong=self.closed_loop_mode is ClosedLoop.AGGRESSIVE and plan.one_window,
            interpolate_x=self.interp_x if self.interp != "Off" else 1, loops_back=self.closed_loop_mode.wraps,
        )  # fmt: skip


PARAMS: dict[str, Param] = {f.name: f.metadata["animatediff"] for f in dataclasses.fields(AnimateDiffParams)}
# sd-webui-animatediff's names for the fields this extension names for what they are
API_NAMES: dict[str, str] = {"frames_per_window": "batch_size", "dilation_levels": "stride"}
_FIELD_OF_API_NAME = {api: name for name, api in API_NAMES.items()}
_TYPES = {f.name: f.type for f in dataclasses.fields(AnimateDiffParams)}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def api_name(name: str) -> str:
    """What API clients (and error messages) call the field ``name``."""
    return API_NAMES.get(name, name)


def is_true_or_false(name: str) -> bool:
    return _TYPES[name] == "bool"


def from_text(name: str, text: Any) -> Any:
    """A field's value written as text (infotext, an X/Y/Z cell): numbers and true/false read,
    anything else as it is (the field's checks run when the params are built); ValueError
    when a number or a truth value does not read as one."""
    kind = _TYPES[name]
    if kind in ("int", "float"):
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise ValueError(f"{text!r} is not a number") from None
        return int(value) if value.is_integer() else value
    if kind == "bool":
        word = str(text).strip().lower()
        if word not in (*_TRUE, *_FALSE):
            raise ValueError(f"{text!r} is not true or false")
        return word in _TRUE
    return text


def _coerce(name: str, value: Any) -> Any:
    """The value in the field's type (numbers from JSON, format names in any case), or a
    ParameterError naming the field."""
    kind = _TYPES[name]
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ParameterError(f"AnimateDiff argument {api_name(name)!r} must be a number, got {type(value).__name__} {value!r}")
        if kind == "int":
            if value != int(value):
                raise ParameterError(f"AnimateDiff argument {api_name(name)!r} must be a whole number, got {value!r}")
            return int(value)
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ParameterError(f"AnimateDiff argument {api_name(name)!r} must be true or false, got {value!r}")
        return value
    if kind == "list[str]":
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
            raise ParameterError(f"AnimateDiff argument {api_name(name)!r} must be a list of text, got {value!r}")
        return format_names(value)
    if kind == "str":
        value = "" if value is None else value  # an empty textbox or dropdown
        if name == "motion_scale" and isinstance(value, int | float) and not isinstance(value, bool):
            value = format(value, "g")  # text because it may hold frame keys; a plain number is fine
        if not isinstance(value, str):
            raise ParameterError(f"AnimateDiff argument {api_name(name)!r} must be text, got {type(value).__name__} {shorten(repr(value))}")
    return value
