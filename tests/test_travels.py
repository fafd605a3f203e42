"""Prompt travel on A1111's processing object: frames' prompts in, the user's prompt shown."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lib_animatediff.sampling.prompt_travel import PromptTravelError
from lib_animatediff.webui.travels import PromptTravels

TRAVEL = "masterpiece\n0: a cat\n2: a fox\nbest quality"


def test_frames_get_their_keyframe_prompts_and_the_infotext_keeps_the_users():
    p = SimpleNamespace(prompt=TRAVEL, negative_prompt="blurry", n_iter=2)
    travels = PromptTravels.of(p, frames=3)
    assert travels.active and travels.negative is None
    assert travels.routing(loop=True, method="lerp").prompt_keys == [0, 2]
    travels.give_frames_their_prompts(p)
    assert p.prompt == ["masterpiece, a cat, best quality"] * 2 + ["masterpiece, a fox, best quality"] + [
        "masterpiece, a cat, best quality"
    ] * 2 + ["masterpiece, a fox, best quality"]
    travels.show_original_prompts(p)
    assert (p.prompt, p.main_prompt, p.negative_prompt) == (TRAVEL, TRAVEL, "blurry")
    p.prompts, p.negative_prompts = ["x"] * 3, ["y"] * 3
    travels.show_original_batch_prompts(p)
    assert p.prompts == [TRAVEL] * 3 and p.negative_prompts == ["blurry"] * 3
    processed = SimpleNamespace(prompt="", negative_prompt="", all_prompts=["x"] * 6, all_negative_prompts=["y"] * 6)
    travels.show_original_results(processed)
    assert processed.prompt == TRAVEL and processed.all_prompts == [TRAVEL] * 6


def test_plain_prompts_are_left_alone():
    p = SimpleNamespace(prompt="a cat", negative_prompt="", n_iter=1)
    travels = PromptTravels.of(p, frames=4)
    travels.give_frames_their_prompts(p)
    travels.show_original_prompts(p)
    assert not travels.active and p.prompt == "a cat" and not hasattr(p, "main_prompt")


def test_keyframes_with_different_and_parts_are_refused():
    p = SimpleNamespace(prompt="0: a cat AND a dog\n2: a fox", negative_prompt="", n_iter=1)
    with pytest.raises(PromptTravelError, match="AND"):
        PromptTravels.of(p, frames=3)
