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


HIRES_TRAVEL = "0: a red car\n2: a blue boat"


def test_an_explicit_hires_prompt_travels_in_the_hires_pass_and_the_infotext_keeps_the_users():
    p = SimpleNamespace(prompt=TRAVEL, negative_prompt="blurry", n_iter=2, enable_hr=True, hr_prompt=HIRES_TRAVEL, hr_negative_prompt="")
    travels = PromptTravels.of(p, frames=3)
    assert travels.routing(loop=False, method="lerp").prompt_keys == [0, 2]
    hires = travels.routing(loop=False, method="lerp", hires_pass=True)
    assert hires.prompt_keys == [0, 2] and hires.negative_keys is None
    travels.give_frames_their_prompts(p)
    assert p.hr_prompt == (["a red car"] * 2 + ["a blue boat"]) * 2 and p.hr_negative_prompt == ""
    travels.show_original_prompts(p)
    assert (p.hr_prompt, p.hr_negative_prompt) == (HIRES_TRAVEL, "")
    # A1111 copied the frames' prompts into its lists; the second batch's infotext comes next
    p.iteration, p.batch_size = 1, 3
    p.prompts, p.negative_prompts = ["x"] * 3, ["y"] * 3
    p.all_hr_prompts, p.all_hr_negative_prompts = ["h"] * 6, ["n"] * 6
    travels.show_original_batch_prompts(p)
    assert p.all_hr_prompts == ["h"] * 3 + [HIRES_TRAVEL] * 3 and p.all_hr_negative_prompts == ["n"] * 3 + ["blurry"] * 3


def test_a_hires_prompt_that_does_not_travel_holds_in_the_hires_pass_and_a_broken_one_is_refused():
    p = SimpleNamespace(prompt="0: a cat\n2: a fox", negative_prompt="", n_iter=1, enable_hr=True, hr_prompt="a dog", hr_negative_prompt="")
    travels = PromptTravels.of(p, frames=3)
    assert travels.routing(False, "lerp").prompt_keys == [0, 2] and travels.routing(False, "lerp", hires_pass=True).prompt_keys is None
    travels.give_frames_their_prompts(p)
    assert p.hr_prompt == "a dog"
    p.hr_prompt = "0: a cat AND a dog\n2: a fox"
    with pytest.raises(PromptTravelError, match="AND"):
        PromptTravels.of(p, frames=3)
    p.enable_hr = False  # without Hires. fix its prompt is never read
    assert PromptTravels.of(p, frames=3).hires is None
