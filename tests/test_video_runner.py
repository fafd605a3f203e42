"""The runner gives the same video however A1111 batches cond, uncond and AND prompts."""

from __future__ import annotations

import pytest
import torch

from conftest import SD15_CHANNELS, SDXL_CHANNELS
from lib_animatediff.context import ContextSchedule, WindowAccumulator
from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.families import FAMILIES, V1, V2, BaseModel
from lib_animatediff.injection import MotionModuleInjection
from lib_animatediff.random_weights import random_motion_modules
from lib_animatediff.tiny_unet import CONTEXT_DIM, build_unet
from lib_animatediff.video_runner import VideoModelRunner, take_rows, video_rows

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


def one_video(unet, injection, x, prompt):
    t = torch.full((FRAMES,), 300)
    with injection.video(FRAMES):
        return unet(x, t, context=prompt.repeat(FRAMES, 1, 1))


@pytest.mark.parametrize("family", FAMILIES.values(), ids=lambda f: f.name)
@pytest.mark.parametrize("conds_per_frame", [1, 2, 3])
@pytest.mark.parametrize("with_uncond", [True, False], ids=["cond+uncond", "uncond-skipped"])
def test_any_row_layout_equals_each_video_run_alone(unets, family, conds_per_frame, with_uncond):
    """Cond and uncond in one call or not, AND prompts interleaved: every video comes out as
    if it ran alone (v1 and HotShot-XL's cross-frame GroupNorm included)."""
    unet = unets[family.base]
    channels = SD15_CHANNELS if family.base is BaseModel.SD15 else SDXL_CHANNELS
    x, prompts = make_video(conds_per_frame + 1)
    rows_x, t, cond = a1111_rows(x, prompts, conds_per_frame, with_uncond)
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(family, channels, seed=4)) as injection:
        runner = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES, conds_per_frame=conds_per_frame)
        out = runner(apply_model(unet), rows_x, t, cond)
        videos = video_rows(rows_x.shape[0], FRAMES, conds_per_frame)
        for v, rows in enumerate(videos):
            torch.testing.assert_close(out[rows], one_video(unet, injection, x, prompts[v]), atol=1e-4, rtol=1e-4)
    assert runner.calls == 1  # all videos in one model call by default


def test_one_video_per_call_gives_the_same_result(unet):
    x, prompts = make_video(3)
    rows_x, t, cond = a1111_rows(x, prompts, conds_per_frame=2)
    with torch.no_grad(), MotionModuleInjection(unet, random_motion_modules(V1, SD15_CHANNELS)) as injection:
        together = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES, conds_per_frame=2)
        apart = VideoModelRunner(injection, ContextSchedule(context=16), FRAMES, videos_per_call=1, conds_per_frame=2)
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


def test_windows_of_a_frame_independent_model_change_nothing():
    x = torch.randn(2 * 10, 3)
    runner = VideoModelRunner(_NoMotion(), ContextSchedule(context=4, overlap=1), 10)
    out = runner(lambda rows, t, cond: rows * 2 + cond, x, torch.zeros(20), torch.ones(20, 3))
    torch.testing.assert_close(out, x * 2 + 1)


def test_on_window_sees_every_window_and_can_stop_sampling(unet):
    seen = []

    def on_window(step, window, windows):
        seen.append((step, window, windows))
        if window == 1:
            raise KeyboardInterrupt

    schedule = ContextSchedule(context=4, overlap=0)
    runner = VideoModelRunner(_NoMotion(), schedule, 12, on_window=on_window, step=5)
    with pytest.raises(KeyboardInterrupt):
        runner(lambda rows, t, cond: rows, torch.randn(12, 2), torch.zeros(12), None)
    windows = len(schedule.windows(12, 5))
    assert windows >= 3 and seen == [(5, 0, windows), (5, 1, windows)]


def test_rows_that_split_videos_are_refused_with_advice():
    with pytest.raises(AnimateDiffError, match="not a whole number of 8-frame videos"):
        video_rows(12, 8)
    with pytest.raises(AnimateDiffError, match="Pad prompt"):
        video_rows(16, 8, conds_per_frame=3)


def test_take_rows_indexes_only_batch_sized_tensors():
    index = torch.tensor([2, 0])
    cond = {"crossattn": torch.arange(3).view(3, 1), "vector": [torch.arange(3)], "scale": torch.tensor(7.0), "name": "x"}
    taken = take_rows(cond, index, rows=3)
    assert taken["crossattn"].flatten().tolist() == [2, 0]
    assert taken["vector"][0].tolist() == [2, 0]
    assert taken["scale"] == 7.0 and taken["name"] == "x"


class _NoMotion:
    """Stands in for an injection where the model has no motion modules."""

    def video(self, frames):
        from contextlib import nullcontext

        return nullcontext()
