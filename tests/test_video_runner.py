"""The runner gives the same video however A1111 batches cond, uncond and AND prompts."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import SD15_CHANNELS, SDXL_CHANNELS

from lib_animatediff.devtools.random_weights import random_motion_modules
from lib_animatediff.devtools.tiny_unet import CONTEXT_DIM, build_unet
from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.fusion import FusedWindows, WindowAccumulator, window_weights
from lib_animatediff.model.families import FAMILIES, V1, V2, BaseModel
from lib_animatediff.model.injection import MotionModuleInjection, hooked_motion_modules, windowed_residual
from lib_animatediff.sampling.context import ContextSchedule
from lib_animatediff.sampling.video_runner import VideoModelRunner, restore_frame_major, take_rows, video_major_order, video_rows

FRAMES = 6


@pytest.fixture(scope="module")
def unets():
    return {BaseModel.SD15: build_unet(BaseModel.SD15, SD15_CHANNELS, seed=2), BaseModel.SDXL: build_unet(BaseModel.SDXL, SDXL_CHANNELS, seed=2)}


@pytest.fixture(scope="module")
def unet(unets):
    return unets[BaseModel.SD15]


def apply_model(unet):
    """An ``apply_model`` as LatentDiffusion has it: conditioning in a dict of lists."""

    def call(x, t, cond):
        assert cond["c_concat"][0].shape[0] == x.shape[0]
        return unet(x, t, context=cond["c_crossattn"][0])

    return call


def make_video(videos: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(FRAMES, 4, 8, 8, generator=generator)
    prompts = torch.randn(videos, 1, 5, CONTEXT_DIM, generator=generator)
    return x, prompts


def a1111_rows(x, prompts, conds_per_frame: int, with_uncond: bool = True):
    """Rows as A1111's CFG denoiser lays them out: per frame its n prompts, then uncond."""
    n = conds_per_frame
    cond_x = torch.cat([x[f : f + 1].repeat(n, 1, 1, 1) for f in range(FRAMES)])
    cond_c = torch.cat([torch.cat([prompts[j] for j in range(n)]) for _ in range(FRAMES)])
    parts_x, parts_c = [cond_x], [cond_c]
    if with_uncond:
        parts_x.append(x)
        parts_c.append(prompts[n].repeat(FRAMES, 1, 1))
    rows_x, rows_c = torch.cat(parts_x), torch.cat(parts_c)
    t = torch.full((rows_x.shape[0],), 300)
    cond = {"c_crossattn": [rows_c], "c_concat": [torch.zeros(rows_x.shape[0], 1, 1, 1)]}
    return rows_x, t, cond


def in_video_order(rows_x, t, cond, conds_per_frame: int):
    """The rows put into whole videos, as the WebUI job does before every step."""
    rows = rows_x.shape[0]
    order = torch.cat([video_major_order(FRAMES, conds_per_frame), torch.arange(conds_per_frame * FRAMES, rows)])
    return rows_x[order], take_rows(t, order, rows), take_rows(cond, order, rows)


def one_video(unet, injection, x, prompt):
    t = torch.full((FRAMES,), 300)
    with injection.video(FRAMES):
        return unet(x, t, context=prompt.repeat(FRAMES, 1, 1))


@pytest.mark.parametrize("family", FAMILIES.values(), ids=lambda f: f.name)
@pytest.mark.parametrize("conds_per_frame", [1, 2, 3])
@pytest.mark.parametrize("with_uncond", [True, False], ids=["cond+uncond", "uncond-skipped"])
def test_any_row_layout_equals_each_video_run_alone(unets, family, conds_per_frame, with_uncond):
    """Cond and uncond in one call or not, AND prompts interleaved: in video order every video
    comes out as if it ran alone (v1 and HotShot-XL's cross-frame GroupNorm included), and
    restoring the order gives A1111 each row's own output."""
    unet = unets[family.base]
    channels = SD15_CHANNELS if family.base is BaseModel.SD15 else SDXL_CHANNELS
    x, prompts = make_video(conds_per_frame + 1)
    rows_x, t, cond = in_video_order(*a1111_rows(x, prompts, conds_per_frame, with_uncond), conds_per_frame)
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(family, channels, seed=4)) as injection:
        runner = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES)
        out = runner(apply_model(unet), rows_x, t, cond)
        alone = [one_video(unet, injection, x, prompts[v]) for v in range(rows_x.shape[0] // FRAMES)]
    for v, rows in enumerate(video_rows(rows_x.shape[0], FRAMES)):
        torch.testing.assert_close(out[rows], alone[v], atol=1e-4, rtol=1e-4)
    restore_frame_major(out, FRAMES, conds_per_frame, uncond_skipped=False)
    for f in range(FRAMES):
        for j in range(conds_per_frame):
            torch.testing.assert_close(out[f * conds_per_frame + j], alone[j][f], atol=1e-4, rtol=1e-4)
    assert runner.calls == 1 and runner.rows_this_step == rows_x.shape[0]  # all videos in one model call by default


def test_three_and_prompts_split_as_a1111_splits_unpadded_rows(unet):
    """Prompt and negative prompt of different lengths, not padded: A1111 runs the conditional
    rows in calls of 2·frames rows, then the unconditional ones. In video order each call holds
    whole videos, so the outputs are those of every video run alone."""
    n = 3
    x, prompts = make_video(n + 1)
    rows_x, t, cond = in_video_order(*a1111_rows(x, prompts, n), n)
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(V1, SD15_CHANNELS)) as injection:
        runner = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES)
        out = torch.zeros_like(rows_x)
        for a in range(0, n * FRAMES, 2 * FRAMES):
            b = min(a + 2 * FRAMES, n * FRAMES)
            index = torch.arange(a, b)
            out[a:b] = runner(apply_model(unet), rows_x[a:b], t[a:b], take_rows(cond, index, rows_x.shape[0]))
        uncond = torch.arange(n * FRAMES, (n + 1) * FRAMES)
        out[uncond] = runner(apply_model(unet), rows_x[uncond], t[uncond], take_rows(cond, uncond, rows_x.shape[0]))
        for v, rows in enumerate(video_rows(rows_x.shape[0], FRAMES)):
            torch.testing.assert_close(out[rows], one_video(unet, injection, x, prompts[v]), atol=1e-4, rtol=1e-4)
    assert runner.calls == 3


def test_video_major_order_and_back():
    order = video_major_order(frames=3, conds_per_frame=2)
    assert order.tolist() == [0, 2, 4, 1, 3, 5]  # frame-major rows f·2 + j → sub-prompt 0's video, then 1's
    rows = torch.arange(6 + 3).float().view(-1, 1)  # 3 frames × 2 sub-prompts, then 3 uncond rows
    videos = torch.cat([rows[order], rows[6:]])
    restore_frame_major(videos, frames=3, conds_per_frame=2, uncond_skipped=False)
    assert torch.equal(videos, rows)
    assert video_major_order(4, 1).tolist() == [0, 1, 2, 3]


def test_restoring_a_step_that_skipped_uncond_fills_it_from_each_frames_first_sub_prompt():
    """A1111 fills skipped uncond rows with copies of each frame's first sub-prompt output,
    picked by frame-major row numbers; restored, they are those rows again."""
    frames, n = 3, 2
    cond_out = torch.tensor([[10.0], [11.0], [20.0], [21.0], [30.0], [31.0]])  # frame-major: frame f, sub-prompt j → 10(f+1) + j
    videos = cond_out[video_major_order(frames, n)]
    fake = videos[[f * n for f in range(frames)]]  # what A1111 picks from the video-ordered rows
    x_out = torch.cat([videos, fake])
    restore_frame_major(x_out, frames, n, uncond_skipped=True)
    assert x_out[:6].flatten().tolist() == [10, 11, 20, 21, 30, 31]
    assert x_out[6:].flatten().tolist() == [10, 20, 30]


def test_one_video_per_call_gives_the_same_result(unet):
    x, prompts = make_video(3)
    rows_x, t, cond = in_video_order(*a1111_rows(x, prompts, conds_per_frame=2), 2)
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(V1, SD15_CHANNELS)) as injection:
        together = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES)
        apart = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES, videos_per_call=1)
        a, b = together(apply_model(unet), rows_x, t, cond), apart(apply_model(unet), rows_x, t, cond)
    assert apart.calls == 3
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_cond_and_uncond_in_one_call_or_two_give_the_same_rows(unet):
    x, prompts = make_video(2)
    rows_x, t, cond = a1111_rows(x, prompts, conds_per_frame=1)
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(V1, SD15_CHANNELS)) as injection:
        runner = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES)
        batched = runner(apply_model(unet), rows_x, t, cond)
        halves = [slice(0, FRAMES), slice(FRAMES, 2 * FRAMES)]
        separate = torch.cat([runner(apply_model(unet), rows_x[h], t[h], take_rows(cond, torch.arange(2 * FRAMES)[h], 2 * FRAMES)) for h in halves])
    torch.testing.assert_close(batched, separate, atol=1e-4, rtol=1e-4)


def test_windows_cover_long_videos_and_fuse_overlaps(unet):
    """With windows, each window is one short video; overlapping frames are averaged."""
    x, prompts = make_video(1)
    rows_x, t, cond = a1111_rows(x, prompts, conds_per_frame=1, with_uncond=False)
    schedule = ContextSchedule(context=4, overlap=2)
    windows = schedule.windows(FRAMES, step=3)
    assert len(windows) > 1
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(V2, SD15_CHANNELS)) as injection:
        runner = VideoModelRunner(injection, schedule, FRAMES, step=3)
        out = runner(apply_model(unet), rows_x, t, cond)
        expected = WindowAccumulator(FRAMES)
        for window in windows:
            with injection.video(len(window)):
                expected.add(window, unet(x[window], t[window], context=cond["c_crossattn"][0][window]))
    torch.testing.assert_close(out, expected.result(), atol=1e-5, rtol=1e-5)
    assert runner.calls == len(windows)


def test_views_run_the_model_once_on_every_frame_and_the_motion_modules_in_windows(unet):
    """With the "views" schedule the UNet sees all frames in one call; a motion module attends
    within each window, so with windows that do not overlap each window's frames come out as if
    the motion module ran on that window alone (the spatial layers run on every frame anyway)."""
    x, prompts = make_video(1)
    rows_x, t, cond = a1111_rows(x, prompts, conds_per_frame=1, with_uncond=False)
    views = ContextSchedule(context=3, overlap=0, kind="views")
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(V2, SD15_CHANNELS, seed=6)) as injection:
        runner = VideoModelRunner(injection, views, FRAMES, step=0)
        out = runner(apply_model(unet), rows_x, t, cond)
        assert runner.calls == 1
        windows = views.windows(FRAMES, 0)
        assert windows == [[0, 1, 2], [3, 4, 5]]
        module = injection.modules.block("down_blocks.0.motion_modules.0")
        probe = torch.randn(FRAMES, module.channels, 4, 4)
        with injection.video(FRAMES, None, FusedWindows(windows)):
            hooked = next(hooked for _, hooked, _ in hooked_motion_modules(unet) if hooked.motion_module is module)
            windowed = hooked(probe)
        separately = torch.cat([module(probe[w], len(w)) for w in windows])
    torch.testing.assert_close(windowed, separately, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out).all()


def test_windows_of_a_frame_independent_model_change_nothing():
    x = torch.randn(2 * 10, 3)
    runner = VideoModelRunner(_NoMotion(), ContextSchedule(context=4, overlap=1), 10)
    out = runner(lambda rows, t, cond: rows * 2 + cond, x, torch.zeros(20), torch.ones(20, 3))
    torch.testing.assert_close(out, x * 2 + 1)


def test_on_window_sees_every_window_and_can_stop_sampling(unet):
    seen = []

    def on_window(step, window, windows, frames):
        seen.append((step, window, windows))
        assert frames == schedule.windows(12, 5)[window]
        if window == 1:
            raise KeyboardInterrupt

    schedule = ContextSchedule(context=4, overlap=0)
    runner = VideoModelRunner(_NoMotion(), schedule, 12, on_window=on_window, step=5)
    with pytest.raises(KeyboardInterrupt):
        runner(lambda rows, t, cond: rows, torch.randn(12, 2), torch.zeros(12), None)
    windows = len(schedule.windows(12, 5))
    assert windows >= 3 and seen == [(5, 0, windows), (5, 1, windows)]


@pytest.mark.parametrize(
    "schedule, videos_per_call",
    [(ContextSchedule(context=4, overlap=1), None), (ContextSchedule(context=4, overlap=1), 1), (ContextSchedule(context=16), None),
     (ContextSchedule(context=4, overlap=0, kind="views"), None)],
    ids=["windows", "windows-one-video-per-call", "one-window", "views"],
)  # fmt: skip
def test_rows_per_model_call_is_the_most_rows_a_call_of_the_model_gets(schedule, videos_per_call):
    seen: list[int] = []

    def model(rows: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        seen.append(rows.shape[0])
        return rows

    runner = VideoModelRunner(_NoMotion(), schedule, 10, videos_per_call=videos_per_call, step=2)
    runner(model, torch.randn(3 * 10, 2), torch.zeros(3 * 10), None)
    assert runner.rows_per_model_call(3 * 10) == max(seen)
    assert runner.rows_per_model_call(7) == 7  # no whole videos: the sampler's rows, as they are


def test_rows_that_split_videos_are_refused():
    with pytest.raises(AnimateDiffError, match="not a whole number of 8-frame videos"):
        video_rows(12, 8)
    assert [rows.tolist() for rows in video_rows(4, 2)] == [[0, 1], [2, 3]]


def test_take_rows_indexes_only_batch_sized_tensors():
    index = torch.tensor([2, 0])
    cond = {"crossattn": torch.arange(3).view(3, 1), "vector": [torch.arange(3)], "scale": torch.tensor(7.0), "name": "x"}
    taken = take_rows(cond, index, rows=3)
    assert taken["crossattn"].flatten().tolist() == [2, 0]
    assert taken["vector"][0].tolist() == [2, 0]
    assert taken["scale"] == 7.0 and taken["name"] == "x"


class DictWithShape(dict):
    """Like A1111's SDXL conditioning dict: its ``shape`` is read off by the sampler."""

    @property
    def shape(self):
        return self["crossattn"].shape


def test_take_rows_keeps_the_mapping_type():
    cond = DictWithShape({"crossattn": torch.arange(6).view(3, 2), "vector": torch.arange(3)})
    taken = take_rows(cond, torch.tensor([1, 2]), rows=3)
    assert type(taken) is DictWithShape and taken.shape == (2, 2) and taken["vector"].tolist() == [1, 2]


class _NoMotion:
    """Stands in for an injection where the model has no motion modules."""

    def video(self, frames, *settings):
        from contextlib import nullcontext

        return nullcontext()


def test_windowed_residual_fuses_each_video_on_its_own_by_the_window_weights():
    """Two videos, overlapping pyramid windows: each frame's residual is the weighted mean of
    what the windows holding it gave that video's frame, whatever the other video holds."""
    frames, windows = 6, [[0, 1, 2, 3], [2, 3, 4, 5]]
    x = torch.randn(2 * frames, 3, 2, 2)

    def module(part: torch.Tensor, length: int) -> torch.Tensor:  # each frame takes its window's mean, per video
        per_video = part.view(-1, length, *part.shape[1:])
        return (per_video + per_video.mean(dim=1, keepdim=True)).reshape(part.shape)

    fused = windowed_residual(module, x, frames, FusedWindows(windows, "pyramid"))
    weights = window_weights(4, "pyramid")
    for video in range(2):
        frames_of = x[video * frames : (video + 1) * frames]
        sums, totals = torch.zeros_like(frames_of), torch.zeros(frames)
        for window in windows:
            sums[window] += frames_of[window].mean(dim=0, keepdim=True) * weights.view(-1, 1, 1, 1)
            totals[window] += weights
        torch.testing.assert_close(fused[video * frames : (video + 1) * frames], sums / totals.view(-1, 1, 1, 1))
