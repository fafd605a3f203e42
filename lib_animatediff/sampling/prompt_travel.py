"""Prompt travel: a prompt that changes from frame to frame.

A travel prompt is a multi-line prompt with keyframe lines ``N: prompt``::

    masterpiece, best quality          <- head (any number of lines)
    0: a girl, (smiling:1.2)           <- keyframes, one line each, keys in any order
    16: a girl, <lora:wink:0.8> winking
    8: a girl, [laughing:crying:0.5]
    looking at viewer                  <- tail (any number of lines)

A negative index counts from the end (``-1:`` is the last frame), and ``N-M:`` holds one prompt
over frames ``N`` to ``M``. Frame ``N``'s prompt is head, keyframe and tail joined with ``", "``; A1111 syntax inside each
part (attention, LoRA, prompt editing, ``AND``, ``BREAK``) is passed through untouched. Only the
keyframes are encoded; every other frame's conditioning is interpolated between its two
neighbouring keyframes (:func:`frame_weights`, :func:`interpolate_conditioning`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import AnimateDiffError

# A keyframe line: a frame index (negative: from the end) or a range of them, a colon, the prompt.
_KEYFRAME = re.compile(r"(-?\d+)(?:\s*-\s*(-?\d+))?\s*:(.*)", re.DOTALL)
# A frame index that is not an integer, followed by a colon: "2.5: x", "+1: x".
_BAD_INDEX = re.compile(r"(\+\d+(?:\.\d*)?|-?\d+\.\d*)\s*:")


class PromptTravelError(AnimateDiffError):
    """A travel prompt cannot be read; the message names the line and what is wrong with it."""


@dataclass(frozen=True)
class TravelPrompt:
    """A parsed travel prompt: the shared head and tail, and ``(frame, prompt)`` keyframes sorted by frame."""

    head: str
    keyframes: tuple[tuple[int, str], ...]
    tail: str

    @property
    def keys(self) -> list[int]:
        return [key for key, _ in self.keyframes]


def parse_travel_prompt(text: str, frames: int) -> TravelPrompt | None:
    """Read a travel prompt (see the module docstring), or ``None`` for a plain prompt.

    A prompt is a travel prompt when at least one line (leading whitespace aside) starts with a
    frame index, or a range ``N-M`` of them, followed by a colon. A negative index counts from
    the end (``-1`` is the last frame); a range holds its prompt from ``N`` to ``M`` (a keyframe
    at each end). Then, in the order of the text:

    * lines before the first keyframe are the head, lines after the last are the tail (each
      part's lines are joined with ``", "``); blank lines are ignored everywhere;
    * a non-blank line between two keyframes is an error (a keyframe's prompt is one line);
    * a keyframe outside the video, a key given twice, a range that ends before it starts or
      holds another keyframe, or a keyframe with an empty prompt is an error;
    * a head or tail line that begins with a fractional or ``+`` index and a colon (``2.5: x``)
      is an error, since it can only be a mistyped keyframe. Any other line that begins with a
      number (``2 girls``, ``1girl``, ``4k``) is ordinary text: only an index or range and a
      colon start a keyframe.

    Each part is stripped of surrounding whitespace and commas, so ``"best quality,"`` and
    ``"0: a cat"`` join as ``"best quality, a cat"``.
    """
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    keyframe_lines = [number for number, line in lines if _KEYFRAME.fullmatch(line)]
    if not keyframe_lines:
        return None
    first, last = keyframe_lines[0], keyframe_lines[-1]

    head: list[str] = []
    tail: list[str] = []
    keys: dict[int, int] = {}  # key -> line number
    ranges: list[tuple[int, int, int, str]] = []  # (first, last, line number, line)
    keyframes: list[tuple[int, str]] = []
    for number, line in lines:
        if not line:
            continue
        match = _KEYFRAME.fullmatch(line)
        if match is None:
            _check_not_keyframe_like(number, line)
            if number < first:
                head.append(_part(line))
            elif number > last:
                tail.append(_part(line))
            else:
                raise PromptTravelError(
                    f"prompt travel, line {number} {line!r}: text between keyframes; a keyframe's prompt is one line "
                    "'N: prompt'; put text shared by all frames before the first keyframe or after the last"
                )
            continue
        start = _frame(int(match.group(1)), frames, number, line)
        end = start if match.group(2) is None else _frame(int(match.group(2)), frames, number, line)
        prompt = _part(match.group(3))
        if end < start:
            raise PromptTravelError(f"prompt travel, line {number} {line!r}: the range ends (frame {end}) before it starts (frame {start})")
        if not prompt:
            raise PromptTravelError(f"prompt travel, line {number} {line!r}: keyframe {start} has an empty prompt")
        for key in dict.fromkeys((start, end)):
            if key in keys:
                raise PromptTravelError(f"prompt travel, line {number} {line!r}: keyframe {key} is already given on line {keys[key]}")
            keys[key] = number
            keyframes.append((key, prompt))
        if end > start:
            ranges.append((start, end, number, line))
    for start, end, number, line in ranges:
        inside = [key for key in keys if start < key < end]
        if inside:
            raise PromptTravelError(
                f"prompt travel, line {number} {line!r}: the range {start}-{end} holds keyframe {inside[0]} of line "
                f"{keys[inside[0]]}; a range holds one prompt"
            )
    return TravelPrompt(_join(head), tuple(sorted(keyframes)), _join(tail))


def _frame(index: int, frames: int, number: int, line: str) -> int:
    """A keyframe's frame: ``index``, or counted from the end when negative."""
    frame = index + frames if index < 0 else index
    if not 0 <= frame < frames:
        raise PromptTravelError(
            f"prompt travel, line {number} {line!r}: keyframe {index} is outside the video ({frames} frames: 0 to {frames - 1}, "
            f"or -{frames} to -1 from the end)"
        )
    return frame


def keyframe_prompts(travel: TravelPrompt) -> list[str]:
    """The full prompt of each keyframe, in key order: head, keyframe and tail joined with ``", "``."""
    return [_join([travel.head, prompt, travel.tail]) for _, prompt in travel.keyframes]


def frame_weights(keys: Sequence[int], frames: int, loop: bool = False) -> list[tuple[int, int, float]]:
    """For every frame ``f``, ``(prev, next, t)``: frame ``f``'s conditioning is
    ``interp(cond[prev], cond[next], t)``, ``prev`` and ``next`` indices into ``keys``.

    ``keys`` are the keyframes' frame indices, strictly increasing, in ``0 .. frames - 1``.

    * At a keyframe: ``(i, i, 0.0)``.
    * Between keys ``k_i < f < k_{i+1}``: ``(i, i + 1, (f - k_i) / (k_{i+1} - k_i))``.
    * Before the first key and after the last: without ``loop``, the nearest key held
      (``(0, 0, 0.0)``, ``(n-1, n-1, 0.0)``); with ``loop``, the segment from the last key to the
      first key one video later, ``k_0 + frames``, taken modulo ``frames``:
      ``(n-1, 0, ((f - k_{n-1}) mod frames) / (k_0 + frames - k_{n-1}))``.
    * A single keyframe: ``(0, 0, 0.0)`` for every frame.
    """
    keys = list(keys)
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    if not keys:
        raise ValueError("prompt travel needs at least one keyframe")
    if any(not 0 <= key < frames for key in keys) or any(a >= b for a, b in itertools.pairwise(keys)):
        raise ValueError(f"keys must be strictly increasing frame indices in 0..{frames - 1}, got {keys}")
    last = len(keys) - 1
    seam = keys[0] + frames - keys[-1]
    weights = []
    segment = 0  # the index of the last key at or before f
    for f in range(frames):
        while segment < last and keys[segment + 1] <= f:
            segment += 1
        if last == 0:
            weights.append((0, 0, 0.0))
        elif f == keys[segment]:
            weights.append((segment, segment, 0.0))
        elif keys[0] < f < keys[-1]:
            weights.append((segment, segment + 1, (f - keys[segment]) / (keys[segment + 1] - keys[segment])))
        elif not loop:
            weights.append((0, 0, 0.0) if f < keys[0] else (last, last, 0.0))
        else:
            weights.append((last, 0, ((f - keys[-1]) % frames) / seam))
    return weights


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``a + t (b - a)``, exactly ``a`` at ``t = 0`` and ``b`` at ``t = 1``."""
    t = _weight(t)
    return torch.lerp(a, b, t) if isinstance(t, float) else torch.lerp(a, b, t.to(a.device, a.dtype))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, parallel: float = 1e-4) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985) of each vector along the last dim.

    Directions move along the great circle between them at constant angular speed,
    ``(sin((1-t) Ω) â + sin(t Ω) b̂) / sin Ω`` with ``cos Ω = â · b̂``; norms are interpolated
    linearly, ``(1-t) |a| + t |b|``. So unit vectors stay unit vectors, where a linear blend
    would shrink them. Where two vectors are (nearly) parallel or antiparallel
    (``1 - |cos Ω| < parallel``), or either is zero, the great circle is ill-defined and the
    result is :func:`lerp`. ``t`` is a number or a tensor broadcastable to ``a[..., :1]``.
    Exactly ``a`` at ``t = 0`` and ``b`` at ``t = 1``. Computed in at least float32.
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp needs tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    dtype = torch.promote_types(a.dtype, torch.float32)
    a32, b32 = a.to(dtype), b.to(dtype)
    t = _weight(t)
    if not isinstance(t, float):
        t = t.to(a.device, dtype)
    norm_a = a32.norm(dim=-1, keepdim=True)
    norm_b = b32.norm(dim=-1, keepdim=True)
    tiny = torch.finfo(dtype).tiny
    unit_a = a32 / norm_a.clamp_min(tiny)
    unit_b = b32 / norm_b.clamp_min(tiny)
    cos = (unit_a * unit_b).sum(dim=-1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    degenerate = (1 - cos.abs() < parallel) | (norm_a == 0) | (norm_b == 0)
    safe_sin = torch.where(degenerate, torch.ones_like(sin), sin)
    direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / safe_sin
    spherical = direction * ((1 - t) * norm_a + t * norm_b)
    result = torch.where(degenerate, torch.lerp(a32, b32, t), spherical)
    if isinstance(t, float):
        return a.clone() if t == 0 else b.clone() if t == 1 else result.to(a.dtype)
    result = torch.where(t == 0, a32, torch.where(t == 1, b32, result))
    return result.to(a.dtype)


# the blends between keyframe conditionings, by the name the request uses; a new blend is one row
INTERPOLATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, float | torch.Tensor], torch.Tensor]] = {"slerp": slerp, "lerp": lerp}
INTERPOLATION_METHODS = tuple(INTERPOLATIONS)


def pad_tokens(cond: torch.Tensor, tokens: int) -> torch.Tensor:
    """A ``(..., n, dim)`` conditioning padded to ``tokens`` tokens by repeating its last token,
    as A1111 pads prompts of different lengths (77, 154, ...) to batch them."""
    if cond.ndim < 2:
        raise ValueError(f"a token conditioning has shape (..., tokens, dim), got {tuple(cond.shape)}")
    missing = tokens - cond.shape[-2]
    if missing < 0:
        raise ValueError(f"cannot pad a conditioning of {cond.shape[-2]} tokens to {tokens}")
    if missing == 0:
        return cond
    last = cond[..., -1:, :].expand(*cond.shape[:-2], missing, cond.shape[-1])
    return torch.cat([cond, last], dim=-2)


def interpolate_conditioning(
    keyframe_conds: Sequence[torch.Tensor | Mapping[str, Any]],
    weights: Sequence[tuple[int, int, float]],
    method: str = "slerp",
) -> list[torch.Tensor | dict[str, Any]]:
    """Each frame's conditioning from the keyframes' and :func:`frame_weights`.

    A conditioning is a tensor ``(tokens, dim)`` (SD 1.5) or a dict of tensors such as SDXL's
    ``{"crossattn": (tokens, dim), "vector": (dim,)}``, of which every tensor entry is
    interpolated (non-tensor entries are taken from ``prev``). Token tensors (two or more dims)
    are first padded to the longest token count among the keyframes by :func:`pad_tokens`, so
    all frames' conditionings have one shape. ``method`` is ``"slerp"`` (:func:`slerp`, per
    token vector) or ``"lerp"``. A frame with ``t == 0`` (or ``t == 1``) shares the padded
    keyframe conditioning itself rather than a copy.
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {', '.join(map(repr, INTERPOLATION_METHODS))}, got {method!r}")
    if not keyframe_conds:
        raise ValueError("prompt travel needs at least one keyframe conditioning")
    interpolate = INTERPOLATIONS[method]
    conds = _padded(list(keyframe_conds))
    frames = []
    for prev, next_, t in weights:
        if not (0 <= prev < len(conds) and 0 <= next_ < len(conds)):
            raise ValueError(f"keyframe index out of range: ({prev}, {next_}) for {len(conds)} keyframes")
        if t == 0 or prev == next_:
            frames.append(conds[prev])
        elif t == 1:
            frames.append(conds[next_])
        elif isinstance(conds[prev], torch.Tensor):
            frames.append(interpolate(conds[prev], conds[next_], t))
        else:
            a, b = conds[prev], conds[next_]
            frames.append({key: interpolate(a[key], b[key], t) if isinstance(a[key], torch.Tensor) else a[key] for key in a})
    return frames


# Helpers


def _part(text: str) -> str:
    return text.strip().strip(",").strip()


def _join(parts: Sequence[str]) -> str:
    return ", ".join(part for part in parts if part)


def _check_not_keyframe_like(number: int, line: str) -> None:
    bad_index = _BAD_INDEX.match(line)
    if bad_index:
        raise PromptTravelError(
            f"prompt travel, line {number} {line!r}: {bad_index.group(1)!r} is not a frame index; "
            "keyframes are 'N: prompt' with N a whole number >= 0"
        )


def _weight(t: float | torch.Tensor) -> float | torch.Tensor:
    """A number, or a tensor of more than one element."""
    if isinstance(t, torch.Tensor) and t.ndim > 0:
        return t
    return float(t)


def _padded(conds: list[torch.Tensor | Mapping[str, Any]]) -> list[torch.Tensor | dict[str, Any]]:
    """Every token tensor padded to the longest token count of its entry; dicts checked for one key set."""
    if all(isinstance(c, torch.Tensor) for c in conds):
        return _pad_all(conds)
    if not all(isinstance(c, Mapping) for c in conds):
        raise ValueError("keyframe conditionings must be all tensors or all dicts of tensors")
    keys = list(conds[0])
    for c in conds[1:]:
        if set(c) != set(keys):
            raise ValueError(f"keyframe conditionings have different entries: {sorted(keys)} and {sorted(c)}")
    columns = {
        key: _pad_all([c[key] for c in conds]) if isinstance(conds[0][key], torch.Tensor) else [c[key] for c in conds] for key in keys
    }
    return [{key: columns[key][i] for key in keys} for i in range(len(conds))]


def _pad_all(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    if tensors[0].ndim < 2:
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) > 1:
            raise ValueError(f"keyframe conditionings have different shapes: {sorted(shapes)}")
        return tensors
    longest = max(t.shape[-2] for t in tensors)
    padded = [pad_tokens(t, longest) for t in tensors]
    shapes = {tuple(t.shape) for t in padded}
    if len(shapes) > 1:
        raise ValueError(f"keyframe conditionings have different shapes after padding tokens: {sorted(shapes)}")
    return padded


def frame_prompts(travel: TravelPrompt, frames: int) -> list[str]:
    """The prompt A1111 encodes for each frame: its own keyframe's, or the one before it.

    Frames between keyframes get their conditioning interpolated by :func:`travel_rows`; the
    prompt only has to parse like its neighbours' (same AND parts, same extra networks).
    """
    prompts = keyframe_prompts(travel)
    return [prompts[prev] for prev, _, _ in frame_weights(travel.keys, frames)]


def travel_rows(rows: Any, frames: int, conds_per_frame: int, keys: Sequence[int], loop: bool = False, method: str = "slerp") -> Any:
    """A1111's text conditioning rows with each frame's rows interpolated between its keyframes'.

    ``rows`` is a tensor (frames·n, tokens, dim) or a dict of such tensors (SDXL), laid out
    frame-major with ``n = conds_per_frame`` rows per frame (AND sub-prompts): row f·n + j is
    sub-prompt j of frame f. The rows of keyframe frames are taken as the keyframes'
    conditioning at this step, so prompt editing keeps working.
    """
    weights = frame_weights(keys, frames, loop)
    n = conds_per_frame

    def row(value: Any, index: int) -> Any:
        return {k: v[index] for k, v in value.items()} if isinstance(value, Mapping) else value[index]

    per_frame: list[list[Any]] = []
    for j in range(n):
        per_frame.append(interpolate_conditioning([row(rows, key * n + j) for key in keys], weights, method))
    ordered = [per_frame[j][f] for f in range(frames) for j in range(n)]
    if isinstance(rows, Mapping):
        # same mapping type: A1111 reads ``.shape`` off its dict subclass (DictWithShape)
        return type(rows)({k: torch.stack([entry[k] for entry in ordered]).to(rows[k].dtype) for k in rows})
    return torch.stack(ordered).to(rows.dtype)


_AND = re.compile(r"\bAND\b")


def check_and_parts(travel: TravelPrompt, which: str = "prompt") -> None:
    """Every keyframe must have the same number of AND sub-prompts: interpolation pairs them."""
    counts = {key: len(_AND.split(text)) for key, text in zip(travel.keys, keyframe_prompts(travel))}
    if len(set(counts.values())) > 1:
        listing = ", ".join(f"frame {key}: {count}" for key, count in counts.items())
        raise PromptTravelError(f"every keyframe of the {which} needs the same number of AND sub-prompts ({listing})")
