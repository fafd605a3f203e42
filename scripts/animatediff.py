"""AnimateDiff in the A1111 WebUI: the accordion and the life of one job.

This file only translates between A1111 and ``lib_animatediff``. A job goes:
validate (before_process) → enter (around p.sample) → sample → leave → write outputs.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import gradio as gr

from modules import script_callbacks, scripts, sd_samplers_common, shared
from modules.processing import Processed, StableDiffusionProcessing

from lib_animatediff import __version__
from lib_animatediff.context import ClosedLoop
from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.gif import write_gif
from lib_animatediff.injection import MotionModuleInjection
from lib_animatediff.job import JobPlan, plan_job
from lib_animatediff.log import logger
from lib_animatediff.model_files import find_motion_module, list_motion_modules
from lib_animatediff.params import AnimateDiffParams
from lib_animatediff.undo import UndoStack
from lib_animatediff.video_runner import VideoModelRunner
from lib_animatediff.webui_state import WEBUI

EXTENSION_DIR = Path(scripts.basedir())


def model_dir() -> Path:
    configured = getattr(shared.cmd_opts, "animatediff_model_dir", None)
    return Path(configured) if configured else EXTENSION_DIR / "model"


class AnimateDiffScript(scripts.Script):
    def title(self) -> str:
        return "AnimateDiff"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list:
        from modules.ui_components import InputAccordion

        tab = "img2img" if is_img2img else "txt2img"
        defaults = AnimateDiffParams()
        with InputAccordion(False, label="AnimateDiff", elem_id=f"{tab}_animatediff") as enable:
            models = list_motion_modules(model_dir())
            model = gr.Dropdown(models, value=models[0] if models else None, label="Motion module", elem_id=f"{tab}_animatediff_model")
            with gr.Row():
                video_length = gr.Number(defaults.video_length, precision=0, label="Number of frames", elem_id=f"{tab}_animatediff_video_length")
                fps = gr.Number(defaults.fps, precision=0, label="FPS", elem_id=f"{tab}_animatediff_fps")
                loop_number = gr.Number(defaults.loop_number, precision=0, label="Display loop number", elem_id=f"{tab}_animatediff_loop_number")
            with gr.Row():
                batch_size = gr.Number(defaults.batch_size, precision=0, label="Context batch size (0 = 16 for SD 1.5, 8 for SDXL)", elem_id=f"{tab}_animatediff_batch_size")
                stride = gr.Number(defaults.stride, precision=0, label="Stride", elem_id=f"{tab}_animatediff_stride")
                overlap = gr.Number(defaults.overlap, precision=0, label="Overlap (-1 = context / 4)", elem_id=f"{tab}_animatediff_overlap")
            closed_loop = gr.Radio([m.value for m in ClosedLoop], value=defaults.closed_loop, label="Closed loop", elem_id=f"{tab}_animatediff_closed_loop")
            save_format = gr.CheckboxGroup(["GIF", "PNG", "TXT"], value=["GIF", "PNG"], label="Save format", elem_id=f"{tab}_animatediff_format")
        # in AnimateDiffParams field order, so positional arguments map onto it
        return [model, enable, video_length, fps, loop_number, closed_loop, batch_size, stride, overlap, save_format]

    def before_process(self, p: StableDiffusionProcessing, *args: Any) -> None:
        WEBUI.heal()
        job = AnimationJob.start(p, args)
        if job is not None:
            p._animatediff_job = job

    def postprocess(self, p: StableDiffusionProcessing, processed: Processed, *args: Any) -> None:
        job = getattr(p, "_animatediff_job", None)
        if job is not None:
            job.write_outputs(p, processed)


class AnimationJob:
    """One enabled job: its parameters, plan and motion modules, and the sampling wrapper."""

    def __init__(self, params: AnimateDiffParams, plan: JobPlan, model_path: Path):
        self.params = params
        self.plan = plan
        self.model_path = model_path
        self.outputs: list[Path] = []

    @classmethod
    def start(cls, p: StableDiffusionProcessing, args: tuple) -> AnimationJob | None:
        try:
            params = AnimateDiffParams.from_args(args)
            if not params.enable:
                return None
            path = find_motion_module(model_dir(), params.model)
            plan = plan_job(params, WEBUI.motion_modules(path))
        except AnimateDiffError as error:
            # A1111 only logs what a script hook raises; failing in p.sample fails the job.
            _fail_sampling(p, error)
            return None
        job = cls(params, plan, path)
        p.batch_size = plan.frames
        p.do_not_save_grid = True
        p.extra_generation_params["AnimateDiff"] = f"model: {path.name}, frames: {plan.frames}, fps: {params.fps}, context: {plan.context}, version: {__version__}"
        original_sample = p.sample
        p.sample = lambda *a, **kw: job.sample(p, original_sample, *a, **kw)
        return job

    def sample(self, p: StableDiffusionProcessing, original_sample: Any, *args: Any, **kwargs: Any) -> Any:
        modules = WEBUI.motion_modules(self.model_path)
        undo = WEBUI.begin()
        try:
            injection = MotionModuleInjection(p.sd_model.model.diffusion_model, modules, schedule_owner=p.sd_model)
            injection.__enter__()
            undo.callback("remove motion modules", injection.remove)
            progress = SamplingProgress()
            runner = VideoModelRunner(
                injection,
                self.plan.schedule,
                self.plan.frames,
                videos_per_call=None if shared.opts.batch_cond_uncond else 1,
                fuse=self.params.fuse,
                on_window=progress.window,
            )
            _route_model_calls(undo, p.sd_model, runner, progress)
            return original_sample(*args, **kwargs)
        finally:
            WEBUI.end()

    def write_outputs(self, p: StableDiffusionProcessing, processed: Processed) -> None:
        if (shared.state.interrupted or shared.state.skipped) and not shared.opts.save_incomplete_images:
            logger.info("not saving the animation of an interrupted job (Settings: save incomplete images)")
            return
        frames = processed.images[processed.index_of_first_image :]
        folder = Path(p.outpath_samples) / "AnimateDiff" / datetime.date.today().isoformat()
        for number in range(len(frames) // self.plan.frames):
            video = frames[number * self.plan.frames : (number + 1) * self.plan.frames]
            seed = processed.all_seeds[number * self.plan.frames] if processed.all_seeds else p.seed
            stem = _next_stem(folder, seed, self.params.request_id)
            if "GIF" in self.params.format:
                self.outputs.append(write_gif(video, folder / f"{stem}.gif", fps=self.params.fps, loop=self.params.loop_number))
            if "TXT" in self.params.format:
                (folder / f"{stem}.txt").write_text(processed.infotexts[number * self.plan.frames], encoding="utf8")
                self.outputs.append(folder / f"{stem}.txt")
        for path in self.outputs:
            logger.info("saved %s", path)


def _route_model_calls(undo: UndoStack, sd_model: Any, runner: VideoModelRunner, progress: SamplingProgress) -> None:
    """Every model call of the job goes through the runner; the sampler tells it, before each
    step, how many AND sub-prompts each frame has and which step it is."""
    apply_model = sd_model.apply_model
    undo.set_attr(sd_model, "apply_model", lambda x, t, cond, *a, **kw: runner(apply_model, x, t, cond, *a, **kw))

    def before_step(params: script_callbacks.CFGDenoiserParams) -> None:
        cond_rows = params.text_cond["crossattn"].shape[0] if isinstance(params.text_cond, dict) else params.text_cond.shape[0]
        runner.step = params.denoiser.step if params.denoiser is not None else params.sampling_step
        runner.conds_per_frame = max(1, cond_rows // runner.frames)
        progress.total_steps = params.total_sampling_steps

    script_callbacks.on_cfg_denoiser(before_step, name="animatediff_video_rows")
    undo.callback("remove cfg_denoiser callback", lambda: script_callbacks.remove_callbacks_for_function(before_step))
    # Motion modules need whole videos per model call; the runner itself follows the
    # user's memory preference by running one video at a time when it is off.
    undo.set_item(shared.opts.data, "batch_cond_uncond", True)


class SamplingProgress:
    """Shows steps × windows in A1111's progress bar; stops at an interrupt between windows."""

    def __init__(self) -> None:
        self.total_steps = 0

    def window(self, step: int, window: int, windows: int) -> None:
        state = shared.state
        if state.interrupted or state.skipped:
            raise sd_samplers_common.InterruptedException
        if windows > 1 and self.total_steps:
            state.sampling_steps = self.total_steps * windows
            state.sampling_step = step * windows + window
            state.textinfo = f"AnimateDiff: step {step + 1}, context window {window + 1} of {windows}"


def _fail_sampling(p: StableDiffusionProcessing, error: Exception) -> None:
    logger.error("%s", error)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    p.sample = fail


def _next_stem(folder: Path, seed: int, request_id: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(name.split("-", 1)[0]) for name in os.listdir(folder) if name.split("-", 1)[0].isdigit()]
    stem = f"{max(numbers, default=-1) + 1:05}-{seed}"
    return f"{stem}-{request_id}" if request_id else stem
