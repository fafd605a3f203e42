"""Prompts another extension rewrites per image (Dynamic Prompts, the Wildcards extension):
one draw per animation.

A1111 sets up one prompt per image of the whole job (``all_prompts`` and its siblings, the
styles applied); extensions that resolve wildcards and variants then rewrite those lists in
their ``process`` hook, one draw per image from the image's seed. In an AnimateDiff job an
image is a frame, so every frame would get other words and the animation would flicker between
them (sd-webui-animatediff#109). Dynamic Prompts also reads only the first prompt of the list:
with prompt travel every frame would get the first frame's keyframe (sd-webui-animatediff#193).

Before A1111's batch loop (``p.init``) the job settles each list against what A1111 set up:

* where an animation's frames share one prompt (no travel), all of them take the first
  frame's draw: one draw per animation, as there is one per image without AnimateDiff;
* a travelling list that the other extension only copied from its first prompt, changing no
  word, gets the travel's prompts back;
* a travelling list whose words it did change, or a list it made longer or shorter (Dynamic
  Prompts' combinatorial generation), is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ParameterError, shorten
from ..log import logger

# A1111's lists of the job's prompts, one per image, and what a message calls each
PROMPT_LISTS = {
    "all_prompts": "prompt",
    "all_negative_prompts": "negative prompt",
    "all_hr_prompts": "Hires prompt",
    "all_hr_negative_prompts": "Hires negative prompt",
}


class PromptRewriteError(ParameterError):
    """Another extension rewrote the job's prompts in a way one animation cannot follow."""


def prompt_lists(p: Any) -> dict[str, list[str]]:
    """Copies of ``p``'s prompt lists that A1111 has set up (Hires. fix's only where it is on)."""
    return {name: list(value) for name in PROMPT_LISTS if isinstance(value := getattr(p, name, None), list)}


def settled(name: str, set_up: list[str], rewritten: list[str], frames: int) -> list[str]:
    """``rewritten`` (what another extension made of the list ``set_up``), animation by animation
    of ``frames`` frames, as one animation can follow it (see the module's rules)."""
    which = PROMPT_LISTS[name]
    if len(rewritten) != len(set_up):
        raise PromptRewriteError(
            f"another extension changed the job's {which}s from {len(set_up)} (one per frame) to {len(rewritten)}, "
            "as Dynamic Prompts' combinatorial generation does; AnimateDiff makes one animation per batch count: "
            "turn combinatorial generation off, and ask for more animations with Batch count"
        )
    result: list[str] = []
    for start in range(0, len(set_up), frames):
        ours, theirs = set_up[start : start + frames], rewritten[start : start + frames]
        if len(set(ours)) == 1:
            result += [theirs[0]] * len(theirs)
        elif all(text == ours[0] for text in theirs):
            result += ours
        else:
            raise PromptRewriteError(
                f"prompt travel: another extension (Dynamic Prompts, Wildcards) rewrote the frames' {which}s "
                f"({shorten(ours[0])!r} became {shorten(theirs[0])!r}), and one draw per image cannot follow the "
                "travel's keyframes: keep wildcards and variants out of a travelling prompt, or turn that extension off for this job"
            )
    return result


def settle_prompt_rewrites(p: Any, set_up: Mapping[str, list[str]], frames: int) -> list[str]:
    """Settles each of ``p``'s prompt lists that differs from what A1111 set up (``set_up``), in
    place (A1111 hands the same lists on); returns the names of those it settled."""
    changed = []
    for name, ours in set_up.items():
        theirs = getattr(p, name, None)
        if not isinstance(theirs, list) or theirs == ours:
            continue
        theirs[:] = settled(name, ours, theirs, frames)
        changed.append(name)
        logger.info(
            "another extension rewrote the frames' %ss (wildcards or variants drawn per image); %s",
            PROMPT_LISTS[name],
            "the travel keeps its keyframes" if theirs == ours else "each animation takes its first frame's draw",
        )
    return changed
