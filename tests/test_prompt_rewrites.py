"""Prompts another extension rewrites per image (lib_animatediff/webui/prompt_rewrites.py): one
draw per animation, travel kept where nothing was drawn, the rest refused with the reason.
The stand-ins rewrite the lists as Dynamic Prompts (draws from the first prompt) and A1111's
Wildcards extension (a draw from each image's own prompt) do."""

from __future__ import annotations

import random
import re
from types import SimpleNamespace

import pytest

from lib_animatediff.errors import ParameterError
from lib_animatediff.webui.prompt_rewrites import PromptRewriteError, prompt_lists, settle_prompt_rewrites, settled

ANIMALS = ("cat", "fox", "owl", "eel", "yak")


def draw(text: str, seed: int) -> str:
    """``__animal__`` resolved from ``seed``, as a wildcard extension draws per image."""
    return re.sub("__animal__", lambda _: random.Random(seed).choice(ANIMALS), text)


def dynamic_prompts(prompts: list[str], seeds: list[int]) -> list[str]:
    """Dynamic Prompts' rewrite: one draw per image, each from the first prompt of the list."""
    return [draw(prompts[0], seed) for seed in seeds]


def wildcards(prompts: list[str], seeds: list[int]) -> list[str]:
    """The Wildcards extension's: one draw per image, each from that image's own prompt."""
    return [draw(text, seed) for text, seed in zip(prompts, seeds)]


SEEDS = list(range(100, 108))  # two animations of four frames: A1111's seed + image


@pytest.mark.parametrize("rewrite", [dynamic_prompts, wildcards])
def test_each_animation_takes_its_first_frames_draw(rewrite):
    ours = ["a __animal__ running"] * 8
    theirs = rewrite(ours, SEEDS)
    assert len(set(theirs)) > 2  # the stand-in draws per frame, as the real ones do

    result = settled("all_prompts", ours, theirs, frames=4)

    assert result == [theirs[0]] * 4 + [theirs[4]] * 4  # one draw per animation, from its own first frame's seed
    assert "__animal__" not in result[0]


def test_a_travel_the_other_extension_only_copied_gets_its_keyframes_back():
    ours = ["a cat sitting", "a cat sitting", "a cat jumping", "a cat jumping"] * 2
    theirs = dynamic_prompts(ours, SEEDS)  # nothing to draw: every frame the first frame's prompt
    assert theirs == ["a cat sitting"] * 8

    assert settled("all_prompts", ours, theirs, frames=4) == ours


@pytest.mark.parametrize("rewrite", [dynamic_prompts, wildcards])
def test_a_travel_whose_words_were_drawn_is_refused_with_the_reason(rewrite):
    ours = ["a __animal__ sitting", "a __animal__ sitting", "a __animal__ jumping", "a __animal__ jumping"]

    with pytest.raises(PromptRewriteError, match="prompt travel: another extension") as raised:
        settled("all_negative_prompts", ours, rewrite(ours, SEEDS[:4]), frames=4)
    assert isinstance(raised.value, ParameterError) and raised.value.status_code == 422
    assert "negative prompts" in str(raised.value) and "a __animal__ sitting" in str(raised.value)


def test_another_count_of_prompts_is_refused_naming_combinatorial_generation():
    with pytest.raises(PromptRewriteError, match="from 8 \\(one per frame\\) to 3.*combinatorial generation"):
        settled("all_prompts", ["a {cat|fox|owl}"] * 8, ["a cat", "a fox", "a owl"], frames=4)


def test_only_the_lists_that_were_rewritten_change_and_in_place():
    p = SimpleNamespace(all_prompts=["a __animal__"] * 4, all_negative_prompts=["blurry"] * 4, all_hr_prompts=None)
    set_up = prompt_lists(p)
    assert set(set_up) == {"all_prompts", "all_negative_prompts"}  # Hires. fix off: no list of its own
    handed_on = p.all_prompts = dynamic_prompts(p.all_prompts, SEEDS[:4])

    assert settle_prompt_rewrites(p, set_up, frames=4) == ["all_prompts"]
    assert p.all_prompts is handed_on and p.all_prompts == [handed_on[0]] * 4
    assert p.all_negative_prompts == ["blurry"] * 4


def test_lists_nobody_rewrote_are_left_alone():
    p = SimpleNamespace(all_prompts=["0: a", "0: a", "2: b", "2: b"], all_negative_prompts=[""] * 4)
    assert settle_prompt_rewrites(p, prompt_lists(p), frames=4) == []
