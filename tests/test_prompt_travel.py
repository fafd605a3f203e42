"""Prompt travel: parsing, per-frame weights, and conditioning interpolation."""

from __future__ import annotations

import math

import pytest
import torch

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.sampling.context import ClosedLoop
from lib_animatediff.sampling.prompt_travel import (
    PromptTravelError,
    TravelPrompt,
    frame_weights,
    interpolate_conditioning,
    keyframe_prompts,
    lerp,
    pad_tokens,
    parse_travel_prompt,
    slerp,
)

# Parsing


def test_plain_prompts_are_not_travel_prompts():
    assert parse_travel_prompt("a cat, (masterpiece:1.2), <lora:x:0.8>", 16) is None
    assert parse_travel_prompt("1girl, solo\n2d, flat colors\n[cat:dog:0.5] AND a tree", 16) is None
    assert parse_travel_prompt("", 16) is None


def test_head_keyframes_tail_and_keys_in_any_order():
    text = "masterpiece, best quality\n(detailed:1.2)\n16: a dog\n0: a cat\n8:\ta bird\nlooking at viewer\n<lora:x:0.8>"
    travel = parse_travel_prompt(text, 24)
    assert travel == TravelPrompt(
        head="masterpiece, best quality, (detailed:1.2)",
        keyframes=((0, "a cat"), (8, "a bird"), (16, "a dog")),
        tail="looking at viewer, <lora:x:0.8>",
    )
    assert travel.keys == [0, 8, 16]
    assert keyframe_prompts(travel) == [
        "masterpiece, best quality, (detailed:1.2), a cat, looking at viewer, <lora:x:0.8>",
        "masterpiece, best quality, (detailed:1.2), a bird, looking at viewer, <lora:x:0.8>",
        "masterpiece, best quality, (detailed:1.2), a dog, looking at viewer, <lora:x:0.8>",
    ]


@pytest.mark.parametrize("line", ["3:a cat", "3: a cat", "3:    a cat", "3:\t a cat  ", "  3 : a cat", "03: a cat"])
def test_whitespace_around_the_key_and_colon(line):
    assert parse_travel_prompt(line, 8).keyframes == ((3, "a cat"),)


def test_a1111_syntax_passes_through_untouched():
    head = "(masterpiece:1.2), [best:good:0.5], <lora:detail:0.8>, <hypernet:h:1>"
    key = "a cat AND a dog:1.3 BREAK (sitting:0.9), [sunny:rainy:10]"
    tail = "((looking)), {a|b}"
    travel = parse_travel_prompt(f"{head}\n0: {key}\n{tail}", 4)
    assert travel.head == head and travel.keyframes == ((0, key),) and travel.tail == tail
    assert keyframe_prompts(travel) == [f"{head}, {key}, {tail}"]


def test_head_lines_with_colons_are_not_keyframes():
    travel = parse_travel_prompt("(word:1.2)\n<lora:x:0.8>\n[a:b:0.5]\nstyle: anime\n0: a cat", 4)
    assert travel.head == "(word:1.2), <lora:x:0.8>, [a:b:0.5], style: anime"
    assert travel.keyframes == ((0, "a cat"),)


def test_parts_lose_surrounding_commas_and_empty_parts_are_skipped():
    travel = parse_travel_prompt("best quality,\n\n0: a cat,\n4: , a dog\n", 8)
    assert keyframe_prompts(travel) == ["best quality, a cat", "best quality, a dog"]
    only_keys = parse_travel_prompt("0: a cat\n1: a dog", 2)
    assert only_keys.head == only_keys.tail == ""
    assert keyframe_prompts(only_keys) == ["a cat", "a dog"]


def test_windows_line_endings():
    travel = parse_travel_prompt("head\r\n0: a\r\n2: b\r\ntail\r\n", 4)
    assert keyframe_prompts(travel) == ["head, a, tail", "head, b, tail"]


@pytest.mark.parametrize(
    "text, frames, line, words",
    [
        ("head\n0: a\n16: b", 16, 3, "outside the video"),
        ("0: a\n99: b", 16, 2, "outside the video"),
        ("0: a\n-17: b", 16, 2, "outside the video"),
        ("0: a\n9-4: b", 16, 2, "ends (frame 4) before it starts"),
        ("0: a\n-1: b\n15: c", 16, 3, "keyframe 15 is already given on line 2"),
        ("0-8: a\n4: b", 16, 1, "holds keyframe 4 of line 2"),
        ("0: a\n4: b\n4: c", 16, 3, "already given on line 2"),
        ("head\n0: a\n4:   ", 16, 3, "empty prompt"),
        ("0: a\n4: ,", 16, 2, "empty prompt"),
        ("0: a\nin between\n4: b", 16, 2, "between keyframes"),
        ("+1: a\n0: b", 16, 1, "not a frame index"),
        ("0: a\n2.5: b", 16, 2, "not a frame index"),
    ],
)
def test_errors_name_the_line(text, frames, line, words):
    with pytest.raises(PromptTravelError) as error:
        parse_travel_prompt(text, frames)
    message = str(error.value)
    assert f"line {line} " in message
    assert words in message
    assert repr(text.splitlines()[line - 1].strip()) in message
    assert isinstance(error.value, AnimateDiffError)


def test_numbers_glued_to_words_are_text():
    travel = parse_travel_prompt("1girl, solo\n0: smiling\n3d render", 4)
    assert travel.head == "1girl, solo" and travel.tail == "3d render"


def test_negative_indices_count_from_the_end_and_ranges_hold_a_prompt():
    travel = parse_travel_prompt("0: a cat\n4-7: a fox\n-1: a bird", 12)
    assert travel.keyframes == ((0, "a cat"), (4, "a fox"), (7, "a fox"), (11, "a bird"))
    assert parse_travel_prompt("-12: first\n-1 - -1: last", 12).keyframes == ((0, "first"), (11, "last"))
    weights = frame_weights(travel.keys, 12)
    assert weights[5] == (1, 2, pytest.approx(1 / 3))  # between two keyframes of one prompt: that prompt
    assert keyframe_prompts(travel)[1] == keyframe_prompts(travel)[2]


def test_head_and_tail_lines_may_begin_with_a_number():
    """Only ``N:`` starts a keyframe; "2 girls" is a prompt, whatever follows the number."""
    travel = parse_travel_prompt("2 girls, masterpiece\n0: smiling\n3: laughing\n4 k; best quality\n8. detailed", 4)
    assert travel.head == "2 girls, masterpiece" and travel.keys == [0, 3]
    assert travel.tail == "4 k; best quality, 8. detailed"
    assert parse_travel_prompt("2 girls, masterpiece\n1 dog", 4) is None


def test_frames_must_be_positive():
    with pytest.raises(ValueError, match="frames"):
        parse_travel_prompt("0: a", 0)


# Frame weights


def test_frame_weights_between_and_at_keys():
    weights = frame_weights([0, 4, 6], 7, loop=False)
    assert weights == [
        (0, 0, 0.0),
        (0, 1, 0.25),
        (0, 1, 0.5),
        (0, 1, 0.75),
        (1, 1, 0.0),
        (1, 2, 0.5),
        (2, 2, 0.0),
    ]


def test_frame_weights_hold_the_end_keys_without_loop():
    weights = frame_weights([2, 5], 8, loop=False)
    assert weights[:3] == [(0, 0, 0.0)] * 3
    assert weights[5:] == [(1, 1, 0.0)] * 3
    assert weights[3] == (0, 1, pytest.approx(1 / 3))


def test_frame_weights_cross_the_seam_with_loop():
    # keys 2 and 5 of 8 frames: the seam runs from frame 5 through 7, 0, 1 to frame 2 + 8 = 10.
    weights = frame_weights([2, 5], 8, loop=True)
    assert weights[5] == (1, 1, 0.0) and weights[2] == (0, 0, 0.0)
    for frame, steps in [(6, 1), (7, 2), (0, 3), (1, 4)]:
        prev, next_, t = weights[frame]
        assert (prev, next_) == (1, 0)
        assert t == pytest.approx(steps / 5)
    ts = [weights[f][2] for f in (5, 6, 7, 0, 1)]
    assert ts == sorted(ts)


def test_frame_weights_loop_with_keys_at_both_ends():
    weights = frame_weights([0, 7], 8, loop=True)
    assert weights[0] == (0, 0, 0.0) and weights[7] == (1, 1, 0.0)
    assert weights[3] == (0, 1, pytest.approx(3 / 7))


@pytest.mark.parametrize("loop", [False, True])
def test_a_single_keyframe_holds_everywhere(loop):
    assert frame_weights([3], 8, loop=loop) == [(0, 0, 0.0)] * 8


def test_frame_weights_follow_closed_loop_modes():
    keys = [0, 4]
    assert frame_weights(keys, 8, ClosedLoop.REDUCED.loops_prompts)[6] == (1, 1, 0.0)
    assert frame_weights(keys, 8, ClosedLoop.REDUCED_PROMPT.loops_prompts)[6] == (1, 0, 0.5)


@pytest.mark.parametrize("keys", [[], [3, 3], [4, 2], [-1, 2], [0, 8]])
def test_frame_weights_reject_bad_keys(keys):
    with pytest.raises(ValueError):
        frame_weights(keys, 8, loop=False)


# Interpolation


def test_slerp_endpoints_are_exact():
    a, b = torch.randn(5, 16), torch.randn(5, 16)
    assert torch.equal(slerp(a, b, 0.0), a)
    assert torch.equal(slerp(a, b, 1.0), b)
    assert torch.equal(lerp(a, b, 0.0), a)
    assert torch.equal(lerp(a, b, 1.0), b)
    t = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]).view(5, 1)
    mixed = slerp(a, b, t)
    assert torch.equal(mixed[0::2], a[0::2]) and torch.equal(mixed[1::2], b[1::2])


def test_slerp_keeps_unit_vectors_on_the_sphere():
    a = torch.nn.functional.normalize(torch.randn(3, 7, 32), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(3, 7, 32), dim=-1)
    for t in (0.1, 0.3, 0.5, 0.9):
        assert torch.allclose(slerp(a, b, t).norm(dim=-1), torch.ones(3, 7), atol=1e-5)
    # A straight blend would shrink them.
    assert (lerp(a, b, 0.5).norm(dim=-1) < 0.9).all()


def test_slerp_halfway_between_orthogonal_vectors():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    half = slerp(a, b, 0.5)
    assert torch.allclose(half, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-6)
    third = slerp(a, b, 1 / 3)
    assert torch.allclose(third, torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]), atol=1e-6)


def test_slerp_interpolates_norms_linearly_and_the_angle_evenly():
    a, b = torch.tensor([2.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 4.0])
    mid = slerp(a, b, 0.25)
    assert mid.norm().item() == pytest.approx(2.5)
    assert math.atan2(mid[2].item(), mid[0].item()) == pytest.approx(math.pi / 8)


def test_slerp_falls_back_to_lerp_for_parallel_and_zero_vectors():
    a = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    b = torch.tensor([[2.0, 4.0, 6.0], [1.0, 0.0, 0.0], [-1.0, -1.0, 0.0]])
    result = slerp(a, b, 0.25)
    assert torch.isfinite(result).all()
    assert torch.allclose(result, lerp(a, b, 0.25))


def test_slerp_keeps_dtype_and_rejects_shape_mismatch():
    a, b = torch.randn(4, 8).half(), torch.randn(4, 8).half()
    assert slerp(a, b, 0.5).dtype == torch.float16
    with pytest.raises(ValueError, match="shape"):
        slerp(torch.randn(4, 8), torch.randn(4, 9), 0.5)


def test_pad_tokens_repeats_the_last_token():
    cond = torch.randn(77, 8)
    padded = pad_tokens(cond, 154)
    assert padded.shape == (154, 8)
    assert torch.equal(padded[:77], cond)
    assert torch.equal(padded[77:], cond[-1:].expand(77, 8))
    assert pad_tokens(cond, 77) is cond


def test_interpolation_of_tensor_conditionings():
    conds = [torch.randn(77, 16), torch.randn(77, 16)]
    weights = frame_weights([0, 4], 5, loop=False)
    frames = interpolate_conditioning(conds, weights)
    assert len(frames) == 5
    assert frames[0] is conds[0] and frames[4] is conds[1]
    assert torch.allclose(frames[2], slerp(conds[0], conds[1], 0.5))
    linear = interpolate_conditioning(conds, weights, method="lerp")
    assert torch.allclose(linear[1], conds[0] * 0.75 + conds[1] * 0.25, atol=1e-6)


def test_interpolation_pads_different_token_counts():
    short, long = torch.randn(77, 8), torch.randn(154, 8)
    frames = interpolate_conditioning([short, long], frame_weights([0, 2], 3, loop=False), method="lerp")
    assert [f.shape for f in frames] == [(154, 8)] * 3
    assert torch.equal(frames[0][:77], short)
    assert torch.equal(frames[0][77:], short[-1:].expand(77, 8))
    assert torch.equal(frames[2], long)
    assert torch.allclose(frames[1][100], (short[-1] + long[100]) / 2)


def test_interpolation_of_sdxl_dict_conditionings():
    conds = [
        {"crossattn": torch.randn(77, 32), "vector": torch.randn(48), "name": "first"},
        {"crossattn": torch.randn(154, 32), "vector": torch.randn(48), "name": "second"},
    ]
    frames = interpolate_conditioning(conds, [(0, 0, 0.0), (0, 1, 0.5), (1, 1, 0.0)])
    assert [f["crossattn"].shape for f in frames] == [(154, 32)] * 3
    assert torch.equal(frames[0]["vector"], conds[0]["vector"])
    assert torch.equal(frames[2]["crossattn"], conds[1]["crossattn"])
    assert torch.allclose(frames[1]["vector"], slerp(conds[0]["vector"], conds[1]["vector"], 0.5))
    padded_first = pad_tokens(conds[0]["crossattn"], 154)
    assert torch.allclose(frames[1]["crossattn"], slerp(padded_first, conds[1]["crossattn"], 0.5))
    assert frames[1]["name"] == "first"


def test_interpolation_rejects_mixed_or_mismatched_conditionings():
    with pytest.raises(ValueError):
        interpolate_conditioning([torch.randn(77, 8), {"crossattn": torch.randn(77, 8)}], [(0, 1, 0.5)])
    with pytest.raises(ValueError, match="entries"):
        interpolate_conditioning([{"crossattn": torch.randn(77, 8)}, {"vector": torch.randn(8)}], [(0, 1, 0.5)])
    with pytest.raises(ValueError, match="method"):
        interpolate_conditioning([torch.randn(77, 8)], [(0, 0, 0.0)], method="cubic")


# --------------------------------------------------------------------------- A1111 rows


def test_frame_prompts_hold_the_keyframe_at_or_before_each_frame():
    from lib_animatediff.sampling.prompt_travel import frame_prompts

    travel = parse_travel_prompt("best\n0: a cat\n3: a dog\nsharp", frames=6)
    assert frame_prompts(travel, 6) == ["best, a cat, sharp"] * 3 + ["best, a dog, sharp"] * 3


def test_travel_rows_interpolate_between_keyframe_rows_for_every_and_part():
    from lib_animatediff.sampling.prompt_travel import travel_rows

    frames, n = 5, 2
    rows = torch.randn(frames * n, 3, 8)
    out = travel_rows(rows, frames, n, keys=[0, 4], method="lerp")
    assert out.shape == rows.shape
    for j in range(n):
        torch.testing.assert_close(out[0 * n + j], rows[0 * n + j])
        torch.testing.assert_close(out[4 * n + j], rows[4 * n + j])
        torch.testing.assert_close(out[2 * n + j], (rows[0 * n + j] + rows[4 * n + j]) / 2)
        torch.testing.assert_close(out[1 * n + j], 0.75 * rows[j] + 0.25 * rows[4 * n + j])


def test_travel_rows_loop_across_the_seam_and_handle_sdxl_dicts():
    from lib_animatediff.sampling.prompt_travel import travel_rows

    frames = 6
    rows = {"crossattn": torch.randn(frames, 4, 8), "vector": torch.randn(frames, 16)}
    out = travel_rows(rows, frames, 1, keys=[1, 3], loop=True, method="lerp")
    # frame 5 lies two thirds of the way from key 3 back round to key 1 (3 → 5 → 0 → 1)
    for key in rows:
        torch.testing.assert_close(out[key][5], rows[key][3] + (rows[key][1] - rows[key][3]) * (2 / 4))
        torch.testing.assert_close(out[key][1], rows[key][1])
    held = travel_rows(rows, frames, 1, keys=[1, 3], loop=False, method="lerp")
    torch.testing.assert_close(held["vector"][5], rows["vector"][3])


def test_travel_rows_keep_the_mapping_type_a1111_reads_shape_from():
    from lib_animatediff.sampling.prompt_travel import travel_rows

    class DictWithShape(dict):  # as A1111's prompt_parser has it
        @property
        def shape(self):
            return self["crossattn"].shape

    rows = DictWithShape({"crossattn": torch.randn(4, 77, 8), "vector": torch.randn(4, 16)})
    out = travel_rows(rows, 4, 1, keys=[0, 3])
    assert type(out) is DictWithShape and out.shape == (4, 77, 8)
