"""Extensions that draw wildcards and variants per image, beside AnimateDiff in a real WebUI:
sd-dynamic-prompts (from the first prompt of the list) and A1111's Wildcards extension (from each
image's own prompt). Their words are drawn once per animation, prompt travel keeps its keyframes,
and what one animation cannot follow is refused with the reason.

Both rewrite A1111's prompt lists in their ``process`` hooks (Dynamic Prompts is on by default
once installed). What reaches the UNet is read from the record_sampling extension: each UNet
call's rows of text conditioning, one number per row (rows with the same prompt alike). An
8-frame window with cond and uncond in one call is 16 rows: on A1111 the 8 frames' prompts
first, on Forge the negative prompt's rows first.
"""

from __future__ import annotations

import pytest
from harness_servers import WILDCARD_ANIMALS
from webui_api import WebUIServer, animatediff, assert_animation, describe, on_forge, run_job, run_recorded, txt2img_payload

FRAMES = 8
VARIANTS = "a {cat|fox|owl|bird|frog|horse|deer|wolf} in a field"
TRAVEL = "0: a cat in a field\n7: a fox in the snow"


@pytest.fixture(scope="module")
def dynamic_prompts(dynamic_prompts_server: WebUIServer) -> str:
    """Dynamic Prompts' name in ``alwayson_scripts`` (its title carries its version)."""
    names = dynamic_prompts_server.get("/sdapi/v1/scripts").body["txt2img"]
    found = [name for name in names if name.startswith("dynamic prompts")]
    assert found, f"Dynamic Prompts is not among the WebUI's scripts: {names}"
    return found[0]


def job(prompt: str, dynamic_prompts: str | None = None, enabled: bool = True, n_iter: int = 1, combinatorial: bool = False) -> dict:
    scripts = {**animatediff(), **({dynamic_prompts: {"args": [enabled, combinatorial]}} if dynamic_prompts else {})}
    return txt2img_payload(prompt=prompt, n_iter=n_iter, alwayson_scripts=scripts)


def assert_one_prompt_per_animation(infotexts: list[str], animations: int) -> list[str]:
    """Each animation's frames were made with one prompt, with no syntax left; those prompts."""
    prompts = [text.split("\n")[0] for text in infotexts]
    for video in range(animations):
        own = prompts[video * FRAMES : (video + 1) * FRAMES]
        assert len(set(own)) == 1 and not any(mark in own[0] for mark in "{_"), f"animation {video}'s frames' prompts: {own}"
    return prompts[::FRAMES]


def frame_conditioning(events: list[dict]) -> list[list[float]]:
    """Per UNet call, the frames' rows of text conditioning (one number each), after checking the layout:
    8 prompt rows and 8 rows of the one negative prompt, in the host's order."""
    calls = [event["context"] for event in events if event["kind"] == "unet"]
    assert calls and all(len(rows) == 2 * FRAMES for rows in calls), [len(rows) for rows in calls]
    prompts, negatives = (slice(FRAMES, None), slice(None, FRAMES)) if on_forge() else (slice(None, FRAMES), slice(FRAMES, None))
    assert all(len(set(rows[negatives])) == 1 for rows in calls), f"the negative prompt's rows differ: {calls}"
    return [rows[prompts] for rows in calls]


def test_variants_are_drawn_once_per_animation(dynamic_prompts_server: WebUIServer, dynamic_prompts: str) -> None:
    drawn, events = run_recorded(dynamic_prompts_server, "txt2img", job(VARIANTS, dynamic_prompts, enabled=True, n_iter=2))
    assert_animation(drawn, dynamic_prompts_server, frames=FRAMES, videos=2)
    first = assert_one_prompt_per_animation(drawn.response.info()["infotexts"], animations=2)[0]
    calls = frame_conditioning(events)
    assert all(len(set(rows)) == 1 for rows in calls), f"the frames of an animation saw different prompts: {calls}"

    # what the sampler saw is the drawn prompt's own conditioning
    plain, plain_events = run_recorded(dynamic_prompts_server, "txt2img", job(first, dynamic_prompts, enabled=False))
    assert plain.response.ok, describe(plain, dynamic_prompts_server)
    assert calls[0] == pytest.approx(frame_conditioning(plain_events)[0], rel=1e-9)


def test_prompt_travel_keeps_its_keyframes_with_dynamic_prompts_on(dynamic_prompts_server: WebUIServer, dynamic_prompts: str) -> None:
    on, on_events = run_recorded(dynamic_prompts_server, "txt2img", job(TRAVEL, dynamic_prompts, enabled=True))
    off, off_events = run_recorded(dynamic_prompts_server, "txt2img", job(TRAVEL, dynamic_prompts, enabled=False))
    assert_animation(on, dynamic_prompts_server, frames=FRAMES)
    assert_animation(off, dynamic_prompts_server, frames=FRAMES)
    seen_on, seen_off = frame_conditioning(on_events)[0], frame_conditioning(off_events)[0]
    assert seen_on[0] != pytest.approx(seen_on[-1], rel=1e-6), f"the last frame saw the first keyframe: {seen_on}"
    assert seen_on == pytest.approx(seen_off, rel=1e-9)
    assert on.response.info()["prompt"] == TRAVEL


@pytest.mark.parametrize(
    ("prompt", "combinatorial", "words"),
    [
        ("0: a {cat|fox} in a field\n7: a bird", False, "prompt travel: another extension"),
        ("a {cat|fox} in a field", True, "combinatorial generation"),
    ],
    ids=["travel with variants", "combinatorial generation"],
)
def test_what_one_animation_cannot_follow_is_refused_with_the_reason(
    dynamic_prompts_server: WebUIServer, dynamic_prompts: str, prompt: str, combinatorial: bool, words: str
) -> None:
    refused = run_job(dynamic_prompts_server, "txt2img", job(prompt, dynamic_prompts, enabled=True, combinatorial=combinatorial))
    assert refused.response.status == 422 and words in refused.response.text, describe(refused, dynamic_prompts_server)
    assert not refused.gifs
    after = run_job(dynamic_prompts_server, "txt2img", job(VARIANTS, dynamic_prompts, enabled=True))
    assert_animation(after, dynamic_prompts_server, frames=FRAMES)


def test_the_wildcards_extensions_words_are_drawn_once_per_animation(wildcards_server: WebUIServer) -> None:
    drawn, events = run_recorded(wildcards_server, "txt2img", job("a __animal__ in a field", n_iter=2))
    assert_animation(drawn, wildcards_server, frames=FRAMES, videos=2)
    prompts = assert_one_prompt_per_animation(drawn.response.info()["infotexts"], animations=2)
    assert all(prompt.split()[1] in WILDCARD_ANIMALS for prompt in prompts), prompts
    calls = frame_conditioning(events)
    assert all(len(set(rows)) == 1 for rows in calls), f"the frames of an animation saw different prompts: {calls}"
    plain, plain_events = run_recorded(wildcards_server, "txt2img", job(prompts[0]))
    assert plain.response.ok, describe(plain, wildcards_server)
    assert calls[0] == pytest.approx(frame_conditioning(plain_events)[0], rel=1e-9)


def test_a_travel_with_the_wildcards_extensions_words_is_refused(wildcards_server: WebUIServer) -> None:
    refused = run_job(wildcards_server, "txt2img", job("0: a __animal__ in a field\n7: a bird"))
    assert refused.response.status == 422 and "prompt travel: another extension" in refused.response.text, describe(refused, wildcards_server)
    travel = run_job(wildcards_server, "txt2img", job(TRAVEL))  # nothing to draw: the extension leaves it as it is
    assert_animation(travel, wildcards_server, frames=FRAMES)
