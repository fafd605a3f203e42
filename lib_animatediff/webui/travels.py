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
    """The job's prompt and negative prompt where they are travel prompts (``N: prompt`` lines)."""

    def __init__(self, prompt: TravelPrompt | None, negative: TravelPrompt | None, originals: tuple[Any, Any], frames: int):
        self.prompt = prompt
        self.negative = negative
        self.originals = originals
        self.frames = frames

    @classmethod
    def of(cls, p: Any, frames: int) -> PromptTravels:
        """Read ``p``'s prompts (a list of prompts, as scripts may set, never travels); errors name the line."""
        prompt = parse_travel_prompt(p.prompt, frames) if isinstance(p.prompt, str) else None
        negative = parse_travel_prompt(p.negative_prompt, frames) if isinstance(p.negative_prompt, str) else None
        for travel, which in ((prompt, "prompt"), (negative, "negative prompt")):
            if travel is not None:
                check_and_parts(travel, which)
        return cls(prompt, negative, (p.prompt, p.negative_prompt), frames)

    @property
    def active(self) -> bool:
        return self.prompt is not None or self.negative is not None

    def routing(self, loop: bool, method: str) -> Travel:
        """What the model-call routing interpolates at every step."""
        return Travel(
            self.prompt.keys if self.prompt is not None else None, self.negative.keys if self.negative is not None else None, loop, method
        )

    def give_frames_their_prompts(self, p: Any) -> None:
        """Each frame's prompt is its keyframe's (or the one before), for every batch of the job."""
        if self.prompt is not None:
            p.prompt = frame_prompts(self.prompt, self.frames) * p.n_iter
        if self.negative is not None:
            p.negative_prompt = frame_prompts(self.negative, self.frames) * p.n_iter

    def show_original_prompts(self, p: Any) -> None:
        """After A1111 has made each frame's prompt: the job's own prompt for infotext."""
        if self.active:
            p.prompt, p.negative_prompt = self.originals
            p.main_prompt, p.main_negative_prompt = self.originals

    def show_original_batch_prompts(self, p: Any) -> None:
        """A1111 writes each frame's infotext from ``p.prompts`` next: the job's own prompt."""
        if self.active:
            p.prompts = [self.originals[0]] * len(p.prompts)
            p.negative_prompts = [self.originals[1]] * len(p.negative_prompts)

    def show_original_results(self, processed: Any) -> None:
        if self.active:
            processed.prompt, processed.negative_prompt = self.originals
            processed.all_prompts = [self.originals[0]] * len(processed.all_prompts)
            processed.all_negative_prompts = [self.originals[1]] * len(processed.all_negative_prompts)
