"""Model-call routing: before each step the runner learns the step, travelling prompts get each
frame's conditioning and AND sub-prompts' rows go into whole videos; after it, A1111's order."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from lib_animatediff.sampling.context import ContextSchedule
from lib_animatediff.sampling.progress import SamplingProgress
from lib_animatediff.sampling.routing import ModelCallRouting, Travel
from lib_animatediff.sampling.video_runner import VideoModelRunner

FRAMES = 3


class NoMotion:
    def video(self, frames, *settings):
        from contextlib import nullcontext

        return nullcontext()


def routing(travel: Travel = Travel(), reorder_rows: bool = True) -> ModelCallRouting:
    runner = VideoModelRunner(NoMotion(), ContextSchedule(context=16), FRAMES)
    progress = SamplingProgress(SimpleNamespace(interrupted=False, skipped=False), KeyboardInterrupt)
    return ModelCallRouting(runner, progress, travel, reorder_rows)


def step_params(conds_per_frame: int, step: int = 2) -> SimpleNamespace:
    """A step's rows as A1111 lays them out: frame f's sub-prompt j at row f·n + j, then uncond."""
    n = conds_per_frame
    cond_rows = torch.tensor([[10.0 * f + j] for f in range(FRAMES) for j in range(n)])
    rows = torch.cat([cond_rows, torch.tensor([[-1.0 - f] for f in range(FRAMES)])])
    return SimpleNamespace(
        x=rows.clone(), sigma=torch.arange(len(rows)).float(), image_cond=rows.clone(), text_cond=cond_rows.view(-1, 1, 1).clone(),
        text_uncond=torch.zeros(FRAMES, 1, 1), denoiser=SimpleNamespace(step=step), sampling_step=step, total_sampling_steps=5,
    )  # fmt: skip


def test_and_sub_prompts_become_whole_videos_and_come_back_in_a1111s_order():
    route = routing()
    params = step_params(conds_per_frame=2)
    route.before_step(params)
    assert route.runner.step == 2 and route.progress.total_steps == 5 and route.conds_per_frame == 2
    assert params.x.flatten().tolist() == [0, 10, 20, 1, 11, 21, -1, -2, -3]  # sub-prompt 0's video, 1's, then uncond
    assert params.text_cond.flatten().tolist() == [0, 10, 20, 1, 11, 21]
    assert torch.equal(params.image_cond, params.x) and params.sigma.tolist() == [0, 2, 4, 1, 3, 5, 6, 7, 8]
    route.runner.rows_this_step = 9  # the model ran every row
    out = SimpleNamespace(x=params.x.clone())
    route.after_step(out)
    assert out.x.flatten().tolist() == [0, 1, 10, 11, 20, 21, -1, -2, -3]


def test_where_calls_hold_whole_videos_already_the_rows_stay_as_the_sampler_has_them():
    """Forge: its denoiser callbacks see one row per frame, and each model call holds whole videos."""
    route = routing(reorder_rows=False)
    params = step_params(conds_per_frame=2)
    before = params.x.clone()
    route.before_step(params)
    assert route.conds_per_frame == 2 and torch.equal(params.x, before)
    out = SimpleNamespace(x=before.clone())
    route.after_step(out)
    assert torch.equal(out.x, before)


def test_one_prompt_per_frame_is_left_as_it_is():
    route = routing()
    params = step_params(conds_per_frame=1)
    before = params.x.clone()
    route.before_step(params)
    route.after_step(SimpleNamespace(x=params.x))
    assert torch.equal(params.x, before) and route.conds_per_frame == 1


def test_travelling_prompts_interpolate_each_frames_conditioning():
    route = routing(Travel(prompt_keys=[0, 2], method="lerp"))
    params = step_params(conds_per_frame=1)
    route.before_step(params)
    assert params.text_cond.flatten().tolist() == [0.0, 10.0, 20.0]  # frame 1 halfway between its keyframes 0 and 20
    params = step_params(conds_per_frame=1)
    params.text_cond = torch.tensor([0.0, 99.0, 20.0]).view(-1, 1, 1)
    route.before_step(params)
    assert params.text_cond.flatten().tolist() == [0.0, 10.0, 20.0]
