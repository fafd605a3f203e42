"""Prompt travel in an A1111 job: each frame gets a prompt A1111 can encode, the infotext and
the answer keep the user's own prompt. (The interpolation itself is ``sampling/prompt_travel``.)

Duck-typed on A1111's processing object ``p`` (``prompt``, ``negative_prompt``, ``n_iter``,
``main_prompt``, ``prompts``, …) and its ``Processed`` result.
"""

from __future__ import annotations

from typing import Any

from ..sampling.prompt_travel import TravelPrompt, check_and_parts, frame_prompts, parse_travel_prompt
from ..sampling.routing import Travel


class PromptTravels:
    """The job's prompt and negative prompt where they are travel prompts (``N: prompt`` lines),
    and Hires. fix's where the request gives its own."""

    def __init__(
        self,
        prompt: TravelPrompt | None,
        negative: TravelPrompt | None,
        originals: tuple[Any, Any],
        frames: int,
        hires: tuple[TravelPrompt | None, TravelPrompt | None] | None = None,
        hires_originals: tuple[Any, Any] = ("", ""),
    ):
        self.prompt = prompt
        self.negative = negative
        self.originals = originals
        self.frames = frames
        self.hires = hires  # None: Hires. fix off, or its prompts are the job's (A1111 copies them)
        self.hires_originals = hires_originals

    @classmethod
    def of(cls, p: Any, frames: int) -> PromptTravels:
        """Read ``p``'s prompts (a list of prompts, as scripts may set, never travels); errors name the line."""
        prompt, negative = _read(p.prompt, frames, "prompt"), _read(p.negative_prompt, frames, "negative prompt")
        hires_originals = (getattr(p, "hr_prompt", ""), getattr(p, "hr_negative_prompt", ""))
        hires = None
        if getattr(p, "enable_hr", False) and any(isinstance(text, str) and text for text in hires_originals):
            hires = (
                _read(hires_originals[0], frames, "Hires prompt") if hires_originals[0] else prompt,
                _read(hires_originals[1], frames, "Hires negative prompt") if hires_originals[1] else negative,
            )
        return cls(prompt, negative, (p.prompt, p.negative_prompt), frames, hires, hires_originals)

    @property
    def active(self) -> bool:
        return self.prompt is not None or self.negative is not None or (self.hires is not None and any(self.hires))

    def routing(self, loop: bool, method: str, hires_pass: bool = False) -> Travel:
        """What the model-call routing interpolates at every step of the first pass or of Hires. fix's."""
        prompt, negative = self.hires if hires_pass and self.hires is not None else (self.prompt, self.negative)
        return Travel(prompt.keys if prompt is not None else None, negative.keys if negative is not None else None, loop, method)

    def give_frames_their_prompts(self, p: Any) -> None:
        """Each frame's prompt is its keyframe's (or the one before), for every batch of the job."""
        if self.prompt is not None:
            p.prompt = frame_prompts(self.prompt, self.frames) * p.n_iter
        if self.negative is not None:
            p.negative_prompt = frame_prompts(self.negative, self.frames) * p.n_iter
        if self.hires is not None:
            for name, travel, original in zip(("hr_prompt", "hr_negative_prompt"), self.hires, self.hires_originals):
                if original and travel is not None:
                    setattr(p, name, frame_prompts(travel, self.frames) * p.n_iter)

    def show_original_prompts(self, p: Any) -> None:
        """After A1111 has made each frame's prompt: the job's own prompt for infotext."""
        if self.active:
            p.prompt, p.negative_prompt = self.originals
            p.main_prompt, p.main_negative_prompt = self.originals
            if self.hires is not None:
                p.hr_prompt, p.hr_negative_prompt = self.hires_originals

    def show_original_batch_prompts(self, p: Any) -> None:
        """A1111 writes each frame's infotext from ``p.prompts`` (and Hires. fix's from its part of
        ``p.all_hr_prompts``) next: the job's own prompts."""
        if not self.active:
            return
        p.prompts = [self.originals[0]] * len(p.prompts)
        p.negative_prompts = [self.originals[1]] * len(p.negative_prompts)
        if getattr(p, "enable_hr", False) and getattr(p, "all_hr_prompts", None) is not None:
            batch = slice(p.iteration * p.batch_size, (p.iteration + 1) * p.batch_size)
            for name, original, own in zip(("all_hr_prompts", "all_hr_negative_prompts"), self.originals, self.hires_originals):
                values = getattr(p, name)
                values[batch] = [own or original] * len(values[batch])

    def show_original_results(self, processed: Any) -> None:
        if self.active:
            processed.prompt, processed.negative_prompt = self.originals
            processed.all_prompts = [self.originals[0]] * len(processed.all_prompts)
            processed.all_negative_prompts = [self.originals[1]] * len(processed.all_negative_prompts)


def _read(text: Any, frames: int, which: str) -> TravelPrompt | None:
    """A travel prompt of ``text`` (None: not a travel, or a list of prompts); its AND parts checked."""
    travel = parse_travel_prompt(text, frames) if isinstance(text, str) else None
    if travel is not None:
        check_and_parts(travel, which)
    return travel
