"""AnimateDiff in the A1111 WebUI: the accordion and the life of one job.

This file only translates between A1111 and ``lib_animatediff``. A job goes:
validate (before_process) → enter (around p.sample) → sample → leave → write outputs.
"""

from __future__ import annotations

import datetime
import functools
import traceback
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from modules import images, script_callbacks, scripts, sd_models, sd_samplers_common, sd_samplers_timesteps, shared
from modules.processing import Processed, StableDiffusionProcessing, StableDiffusionProcessingImg2Img

from lib_animatediff import __version__
from lib_animatediff.context import ClosedLoop
from lib_animatediff.controlnet import feed_frames, hints_for_rows, own_frame_counts, unit_value, units_to_feed
from lib_animatediff.errors import AnimateDiffError, ParameterError
from lib_animatediff.families import BaseModel
from lib_animatediff.freeinit import FILTER_KINDS, INFOTEXT_KEY, FreeInitSettings, PassNoise, PassStart, freeinit_infotext, run_passes
from lib_animatediff.images import decode_image
from lib_animatediff.infotext import INFOTEXT_KEY as ANIMATEDIFF_INFOTEXT_KEY
from lib_animatediff.infotext import animatediff_infotext, paste_reader
from lib_animatediff.injection import MotionModuleInjection
from lib_animatediff.interpolation import find_deforum_film
from lib_animatediff.job import JobPlan, plan_job
from lib_animatediff.job_outputs import OUTPUTS_INFO_KEY, WrittenFile, encoded_videos, frames_to_save, outputs_info
from lib_animatediff.latent_mix import frame_mix_weights, mix_start_latents
from lib_animatediff.log import logger
from lib_animatediff.model_catalog import checkpoint_base, strip_mark
from lib_animatediff.model_files import find_motion_module
from lib_animatediff.noise_schedule import use_noise_schedule
from lib_animatediff.params import FORMATS, FUSE_KINDS, AnimateDiffParams
from lib_animatediff.prompt_travel import (
    INTERPOLATION_METHODS,
    TravelPrompt,
    check_and_parts,
    frame_prompts,
    parse_travel_prompt,
    travel_rows,
)
from lib_animatediff.undo import UndoStack
from lib_animatediff.video_input import FrameFolder, VideoFrames, frame_files, read_video_frames, resize_frames
from lib_animatediff.video_runner import VideoModelRunner, restore_frame_major, take_rows, video_major_order
from lib_animatediff.webui_lora import LoraExtension, apply_motion_loras
from lib_animatediff.webui_state import WEBUI
from lib_animatediff.writers import OutputSettings, VideoMeta, next_stem, safe_output_folder, write_animation
from lib_animatediff.xyz_axes import AXES as XYZ_AXES
from lib_animatediff.xyz_axes import LABEL_PREFIX as XYZ_LABEL_PREFIX
from lib_animatediff.xyz_axes import apply_axis_value, with_axis_values

EXTENSION_DIR = Path(scripts.basedir())


def model_dir() -> Path:
    configured = getattr(shared.cmd_opts, "animatediff_model_dir", None) or _option("animatediff_model_path")
    return Path(configured) if configured else EXTENSION_DIR / "model"


SETTINGS = {
    # key: (default, label, component, component arguments)
    "animatediff_model_path": ("", "Motion module folder (empty: the extension's model/; --animatediff-model-dir wins)", None, None),
    "animatediff_default_save_formats": (["GIF", "PNG"], "Default save formats", gr.CheckboxGroup, {"choices": list(FORMATS)}),
    "animatediff_outdir": ("", "Save animations to this folder inside the outputs folder (empty: <mode>-images/AnimateDiff/<date>)", None, None),
    "animatediff_frame_extract_path": ("", "Folder for frames extracted from a video source (empty: a temporary folder)", None, None),
    "animatediff_keep_extracted_frames": (False, "Keep frames extracted from a video source after the job", None, None),
    "animatediff_gif_palette": (True, "GIF: optimal palette per animation (ffmpeg palettegen)", None, None),
    "animatediff_gifsicle": (False, "GIF: optimise with gifsicle (needs the gifsicle program)", None, None),
    "animatediff_mp4_crf": (23, "MP4: CRF (0 lossless … 51 worst)", gr.Slider, {"minimum": 0, "maximum": 51, "step": 1}),
    "animatediff_mp4_preset": ("", "MP4: x264 preset (empty: ffmpeg's default, e.g. veryfast, slow)", None, None),
    "animatediff_mp4_tune": ("", "MP4: x264 tune (empty: none, e.g. film, animation)", None, None),
    "animatediff_webp_quality": (80, "WEBP: quality", gr.Slider, {"minimum": 1, "maximum": 100, "step": 1}),
    "animatediff_webp_lossless": (False, "WEBP: lossless", None, None),
}


def _option(key: str) -> Any:
    return getattr(shared.opts, key, SETTINGS[key][0])


def loaded_base_model() -> BaseModel | None:
    """SD 1.5 or SDXL, for the loaded checkpoint, or while A1111 is still loading it (in a
    thread, as the UI is built) for the one it is loading; never loads one itself."""
    model = sd_models.model_data.sd_model
    if model is not None:
        return BaseModel.SDXL if getattr(model, "is_sdxl", False) else BaseModel.SD15
    try:
        return checkpoint_base(Path(sd_models.select_checkpoint().filename))
    except Exception:  # noqa: BLE001 - no checkpoint at all: list every module
        return None


def model_choices() -> list[str]:
    return WEBUI.catalog.choices(model_dir(), loaded_base_model())


def model_choice(name: str | None) -> str | None:
    """The dropdown entry of a file name (pasted infotext holds the bare name)."""
    if name is None:
        return None
    return next((choice for choice in model_choices() if strip_mark(choice) == name), name)


def refreshed_model_choices(current: str | None) -> dict:
    choices = model_choices()
    names = [strip_mark(choice) for choice in choices]
    keep = current and strip_mark(current) in names
    value = choices[names.index(strip_mark(current))] if keep else (choices[0] if choices else None)
    return gr.update(choices=choices, value=value)


def on_ui_settings() -> None:
    section = ("animatediff", "AnimateDiff")
    for key, (default, label, component, arguments) in SETTINGS.items():
        shared.opts.add_option(key, shared.OptionInfo(default, label, component, arguments, section=section))


script_callbacks.on_ui_settings(on_ui_settings)


def register_xyz_axes() -> None:
    """AnimateDiff axes in A1111's X/Y/Z plot, once."""
    xyz = next((data.module for data in scripts.scripts_data if data.script_class.__module__ == "xyz_grid.py"), None)
    if xyz is None:
        logger.info("X/Y/Z plot script not found: no AnimateDiff axes")
        return
    if any(option.label.startswith(XYZ_LABEL_PREFIX) for option in xyz.axis_options):
        return  # the UI is being rebuilt; the axes are there already
    for axis in XYZ_AXES:
        kind = xyz.AxisOptionImg2Img if axis.img2img_only else xyz.AxisOption
        apply = functools.partial(_apply_axis, axis.field)
        xyz.axis_options.append(kind(XYZ_LABEL_PREFIX + axis.label, axis.kind, apply, choices=axis.choices))


def _apply_axis(field: str, p: StableDiffusionProcessing, value: Any, values: Any) -> None:
    apply_axis_value(p, field, value)


def _inside_xyz_grid() -> bool:
    """The X/Y/Z plot draws each cell from ``images[0]``, so its jobs keep their frames
    even when the plot runs through the API."""
    return any(Path(frame.filename).name == "xyz_grid.py" for frame in traceback.extract_stack())


# The plot lists its axes when its UI is made, which with --nowebui happens before the
# before-UI callbacks run; A1111 loads its own scripts before extensions', so register now,
# and again (a no-op when done) before the UI for load orders where the plot comes later.
register_xyz_axes()
script_callbacks.on_before_ui(register_xyz_axes)


def output_settings() -> OutputSettings:
    return OutputSettings(
        gif_palette=bool(_option("animatediff_gif_palette")),
        gifsicle=bool(_option("animatediff_gifsicle")),
        mp4_crf=int(_option("animatediff_mp4_crf")),
        mp4_preset=str(_option("animatediff_mp4_preset")),
        mp4_tune=str(_option("animatediff_mp4_tune")),
        webp_quality=int(_option("animatediff_webp_quality")),
        webp_lossless=bool(_option("animatediff_webp_lossless")),
    )


class AnimateDiffScript(scripts.Script):
    def title(self) -> str:
        return "AnimateDiff"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list:
        from modules.ui_components import InputAccordion, ToolButton

        tab = "img2img" if is_img2img else "txt2img"
        defaults = AnimateDiffParams()
        with InputAccordion(False, label="AnimateDiff", elem_id=f"{tab}_animatediff") as enable:
            with gr.Row():
                models = model_choices()
                model = gr.Dropdown(models, value=models[0] if models else None, label="Motion module", elem_id=f"{tab}_animatediff_model")
                refresh = ToolButton("\U0001f504", elem_id=f"{tab}_animatediff_refresh_models", tooltip="Refresh the list for the loaded checkpoint")
                to_cpu = ToolButton("\U0001f4e4", elem_id=f"{tab}_animatediff_to_cpu", tooltip="Move the motion module to the CPU")
                free = ToolButton("\U0001f5d1\ufe0f", elem_id=f"{tab}_animatediff_free", tooltip="Free the motion module from memory")
            refresh.click(fn=refreshed_model_choices, inputs=[model], outputs=[model])
            to_cpu.click(fn=WEBUI.modules_to_cpu, inputs=[], outputs=[])
            free.click(fn=WEBUI.forget_modules, inputs=[], outputs=[])
            with gr.Row():
                video_length = gr.Number(defaults.video_length, precision=0, label="Number of frames", elem_id=f"{tab}_animatediff_video_length")
                fps = gr.Number(defaults.fps, precision=0, label="FPS", elem_id=f"{tab}_animatediff_fps")
                loop_number = gr.Number(defaults.loop_number, precision=0, label="Display loop number", elem_id=f"{tab}_animatediff_loop_number")
            with gr.Row():
                batch_size = gr.Number(defaults.batch_size, precision=0, label="Context batch size (0 = what the module was trained on: 16, HotShot-XL 8)", elem_id=f"{tab}_animatediff_batch_size")
                stride = gr.Number(defaults.stride, precision=0, label="Stride", elem_id=f"{tab}_animatediff_stride")
                overlap = gr.Number(defaults.overlap, precision=0, label="Overlap (-1 = context / 4)", elem_id=f"{tab}_animatediff_overlap")
            closed_loop = gr.Radio([m.value for m in ClosedLoop], value=defaults.closed_loop, label="Closed loop", elem_id=f"{tab}_animatediff_closed_loop")
            save_format = gr.CheckboxGroup(list(FORMATS), value=_option("animatediff_default_save_formats"), label="Save format", elem_id=f"{tab}_animatediff_format")
            with gr.Row():
                interp = gr.Radio(["Off", "FILM"], value=defaults.interp, label="Frame interpolation", elem_id=f"{tab}_animatediff_interp")
                interp_x = gr.Number(defaults.interp_x, precision=0, label="Interp X", elem_id=f"{tab}_animatediff_interp_x")
            with gr.Accordion("Video source", open=False):
                video_source = gr.Video(label="Video source", elem_id=f"{tab}_animatediff_video_source")
                video_path = gr.Textbox(label="Video path (a video file or a folder of frames)", elem_id=f"{tab}_animatediff_video_path")
                mask_path = gr.Textbox(label="Mask path (a folder of masks)", elem_id=f"{tab}_animatediff_mask_path")
            with gr.Accordion("img2img: first and last frame", open=False, visible=is_img2img):
                with gr.Row():
                    latent_power = gr.Number(defaults.latent_power, label="Latent power", elem_id=f"{tab}_animatediff_latent_power")
                    latent_scale = gr.Number(defaults.latent_scale, label="Latent scale", elem_id=f"{tab}_animatediff_latent_scale")
                last_frame = gr.Image(label="Last frame (optional)", type="pil", elem_id=f"{tab}_animatediff_last_frame")
                with gr.Row():
                    latent_power_last = gr.Number(defaults.latent_power_last, label="Latent power (last frame)", elem_id=f"{tab}_animatediff_latent_power_last")
                    latent_scale_last = gr.Number(defaults.latent_scale_last, label="Latent scale (last frame)", elem_id=f"{tab}_animatediff_latent_scale_last")
            with gr.Accordion("FreeInit (several sampling passes, steadier motion)", open=False):
                freeinit_enable = gr.Checkbox(defaults.freeinit_enable, label="Enable FreeInit", elem_id=f"{tab}_animatediff_freeinit_enable")
                with gr.Row():
                    freeinit_filter = gr.Dropdown(list(FILTER_KINDS), value=defaults.freeinit_filter, label="FreeInit filter", elem_id=f"{tab}_animatediff_freeinit_filter")
                    freeinit_iters = gr.Number(defaults.freeinit_iters, precision=0, label="FreeInit passes", elem_id=f"{tab}_animatediff_freeinit_iters")
                with gr.Row():
                    freeinit_ds = gr.Slider(0.01, 1.0, defaults.freeinit_ds, step=0.01, label="Spatial cut-off d_s", elem_id=f"{tab}_animatediff_freeinit_ds")
                    freeinit_dt = gr.Slider(0.01, 1.0, defaults.freeinit_dt, step=0.01, label="Temporal cut-off d_t", elem_id=f"{tab}_animatediff_freeinit_dt")
            with gr.Row():
                fuse = gr.Radio(list(FUSE_KINDS), value=defaults.fuse, label="Overlapping windows blend", elem_id=f"{tab}_animatediff_fuse")
                travel_interp = gr.Radio(list(INTERPOLATION_METHODS), value=defaults.travel_interp, label="Prompt travel blend", elem_id=f"{tab}_animatediff_travel_interp")
            request_id = gr.Textbox(defaults.request_id, visible=False, elem_id=f"{tab}_animatediff_request_id")
        pasted = {
            "enable": enable, "model": model, "video_length": video_length, "fps": fps, "batch_size": batch_size,
            "stride": stride, "overlap": overlap, "closed_loop": closed_loop, "freeinit_enable": freeinit_enable,
            "freeinit_filter": freeinit_filter, "freeinit_ds": freeinit_ds, "freeinit_dt": freeinit_dt, "freeinit_iters": freeinit_iters,
            "interp": interp, "interp_x": interp_x, "latent_power": latent_power, "latent_scale": latent_scale,
            "latent_power_last": latent_power_last, "latent_scale_last": latent_scale_last,
        }  # fmt: skip
        self.infotext_fields = [(component, paste_reader(field)) for field, component in pasted.items() if field != "model"]
        self.infotext_fields.append((model, lambda infotext: model_choice(paste_reader("model")(infotext))))
        self.paste_field_names = [ANIMATEDIFF_INFOTEXT_KEY, INFOTEXT_KEY]
        # in AnimateDiffParams field order, so positional arguments (UI and API) map onto it
        return [
            model, enable, video_length, fps, loop_number, closed_loop, batch_size, stride, overlap, save_format,
            interp, interp_x, video_source, video_path, mask_path,
            latent_power, latent_scale, last_frame, latent_power_last, latent_scale_last, request_id,
            freeinit_enable, freeinit_filter, freeinit_ds, freeinit_dt, freeinit_iters, fuse, travel_interp,
        ]  # fmt: skip

    def before_process(self, p: StableDiffusionProcessing, *args: Any) -> None:
        WEBUI.heal()
        job = AnimationJob.start(p, args)
        if job is not None:
            p._animatediff_job = job

    def process(self, p: StableDiffusionProcessing, *args: Any) -> None:
        job = getattr(p, "_animatediff_job", None)
        if job is not None:
            job.prompts_set_up(p)
            job.before_init(p)

    def before_process_batch(self, p: StableDiffusionProcessing, *args: Any, **kwargs: Any) -> None:
        job = getattr(p, "_animatediff_job", None)
        if job is not None:
            job.after_init()

    def postprocess_batch_list(self, p: StableDiffusionProcessing, pp: Any, *args: Any, **kwargs: Any) -> None:
        job = getattr(p, "_animatediff_job", None)
        if job is not None:
            # A1111 writes each frame's infotext from p.prompts next; show the job's own prompt
            job.travel.show_original_batch_prompts(p)

    def postprocess(self, p: StableDiffusionProcessing, processed: Processed, *args: Any) -> None:
        job = getattr(p, "_animatediff_job", None)
        if job is not None:
            try:
                job.travel.show_original_results(processed)
                job.write_outputs(p, processed)
            finally:
                job.finish()


class AnimationJob:
    """One enabled job: its parameters, plan and motion modules, and the sampling wrapper."""

    def __init__(self, params: AnimateDiffParams, plan: JobPlan, model_path: Path, travel: PromptTravels, freeinit: FreeInitSettings):
        self.params = params
        self.plan = plan
        self.freeinit = freeinit
        self.model_path = model_path
        self.travel = travel
        self.outputs: list[WrittenFile] = []
        self.frame_folder: FrameFolder | None = None
        self.video_source = False
        self.in_sampler_setup = False

    @classmethod
    def start(cls, p: StableDiffusionProcessing, args: tuple) -> AnimationJob | None:
        try:
            params = with_axis_values(AnimateDiffParams.from_args(args), p)
            if not params.enable:
                return None
            path = find_motion_module(model_dir(), strip_mark(params.model))
            video = _read_video_source(params, p)
            if video is not None and params.last_frame is not None and isinstance(p, StableDiffusionProcessingImg2Img):
                raise ParameterError(
                    "AnimateDiff argument 'last_frame' is for img2img from one image (the main image is the first frame); "
                    "with a video source every frame starts from its own video frame: leave last_frame empty"
                )
            _shortest_controlnet_source(params, p)
            plan = plan_job(params, WEBUI.motion_modules(path))
            travel = PromptTravels.of(p, plan.frames, params.travel_interp)
            freeinit = FreeInitSettings.from_params(params)
        except AnimateDiffError as error:
            # A1111 only logs what a script hook raises; failing in p.sample fails the job.
            _fail_sampling(p, error)
            return None
        job = cls(params, plan, path, travel, freeinit)
        if video is not None:
            job.use_video_frames(p, video)
        travel.give_frames_their_prompts(p)
        p.batch_size = plan.frames
        p.do_not_save_grid = True
        model_hash = WEBUI.short_hash(path, EXTENSION_DIR / "cache" / "hashes.json")
        p.extra_generation_params[ANIMATEDIFF_INFOTEXT_KEY] = animatediff_infotext(
            params, path.name, model_hash, plan.frames, plan.context, __version__, img2img=isinstance(p, StableDiffusionProcessingImg2Img)
        )
        if freeinit.enable:
            p.extra_generation_params[INFOTEXT_KEY] = freeinit_infotext(freeinit)
        original_sample = p.sample
        p.sample = lambda *a, **kw: job.sample(p, original_sample, *a, **kw)
        return job

    def use_video_frames(self, p: StableDiffusionProcessing, video: VideoFrames) -> None:
        """Video to video: the source's frames, resized to the job, are stored for the job
        (a per-job folder, removed at the end unless settings keep it); in img2img they are
        the frames' init images."""
        self.video_source = True
        frames = resize_frames(video.frames[: self.plan.frames], p.width, p.height)
        extract_to = _option("animatediff_frame_extract_path") or None
        self.frame_folder = FrameFolder(Path(extract_to) if extract_to else None, keep=bool(_option("animatediff_keep_extracted_frames")))
        self.frame_folder.__enter__()
        self.frame_folder.save(frames)
        logger.info("video source: %d frames at %s fps from %s", len(frames), video.fps, video.source)
        if isinstance(p, StableDiffusionProcessingImg2Img):
            p.init_images = frames
        masks = Path(self.params.mask_path) if self.params.mask_path else None
        for unit in units_to_feed(_controlnet_units(p)):
            feed_frames(unit, self.frame_folder.path, masks)
            logger.info("ControlNet unit %s takes the video's frames", unit_value(unit, "model", "?"))

    def finish(self) -> None:
        self.after_init()
        if self.frame_folder is not None:
            self.frame_folder.__exit__(None, None, None)
            self.frame_folder = None

    def prompts_set_up(self, p: StableDiffusionProcessing) -> None:
        """After A1111 has made each frame's prompt: the job's own prompt for infotext."""
        self.travel.show_original_prompts(p)

    def before_init(self, p: StableDiffusionProcessing) -> None:
        """img2img builds its sampler, which copies the noise schedule, in ``p.init()``, before
        sampling: the module's schedule is in place from here to the first batch."""
        if isinstance(p, StableDiffusionProcessingImg2Img):
            self.use_module_schedule(p, WEBUI.begin())
            self.in_sampler_setup = True

    def after_init(self) -> None:
        if self.in_sampler_setup:
            self.in_sampler_setup = False
            WEBUI.end()

    def use_module_schedule(self, p: StableDiffusionProcessing, undo: UndoStack) -> None:
        """The motion module's noise schedule, with A1111's overrides (zero terminal SNR, …) on top."""
        schedule = WEBUI.motion_modules(self.model_path).family.noise_schedule.alphas_cumprod()
        use_noise_schedule(undo, p.sd_model, schedule, lambda: sd_models.apply_alpha_schedule_override(p.sd_model, p))

    def sample(self, p: StableDiffusionProcessing, original_sample: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(p, "init_latent", None) is not None and not self.video_source:
            self.mix_start_latents(p)
        modules = WEBUI.motion_modules(self.model_path)
        undo = WEBUI.begin()
        try:
            self.use_module_schedule(p, undo)
            injection = MotionModuleInjection(p.sd_model.model.diffusion_model, modules)
            injection.__enter__()
            undo.callback("remove motion modules", injection.remove)
            lora_extension = _lora_extension()
            if lora_extension is not None:
                apply_motion_loras(undo, modules, lora_extension)
            progress = SamplingProgress(self.freeinit.iterations if self.freeinit.enable else 1)
            control_params = _controlnet_params(p)
            runner = VideoModelRunner(
                injection,
                self.plan.schedule,
                self.plan.frames,
                videos_per_call=None if shared.opts.batch_cond_uncond else 1,
                fuse=self.params.fuse,
                on_window=progress.window,
                around_call=(lambda index: hints_for_rows(control_params, index, self.plan.frames)) if control_params else None,
            )
            _route_model_calls(undo, p.sd_model, runner, progress, self.travel, self.params.closed_loop_mode.loops_prompts)
            level = FirstNoiseLevel(p)
            pass_noise: list[PassNoise] = []
            if self.freeinit.enable:
                script_callbacks.on_cfg_denoiser(level.record, name="animatediff_freeinit")
                undo.callback("remove FreeInit's cfg_denoiser callback", lambda: script_callbacks.remove_callbacks_for_function(level.record))

            def sample_pass(number: int, noise: torch.Tensor | None) -> Any:
                progress.pass_number = number
                level.sigma = None
                with UndoStack() as this_pass:
                    if self.freeinit.enable:
                        pass_noise.append(PassNoise(p.rng, noise))  # hands out the pass's start, records it
                        this_pass.set_attr(p, "rng", pass_noise[-1])
                    if number < progress.passes - 1 and getattr(p, "enable_hr", False):
                        this_pass.set_attr(p, "enable_hr", False)  # hires fix only after the last pass
                    return original_sample(*args, **kwargs)

            def pass_start() -> PassStart:
                if pass_noise[-1].first is None:
                    raise AnimateDiffError("FreeInit: the sampler drew no noise, so the pass has no start")
                return PassStart(getattr(p, "init_latent", None), level.read(), pass_noise[-1].first)

            return run_passes(self.freeinit, self.plan.frames, int(p.seeds[0]), sample_pass, pass_start, _interrupted)
        finally:
            WEBUI.end()

    def mix_start_latents(self, p: StableDiffusionProcessingImg2Img) -> None:
        """img2img: the main image is the first frame, the optional last frame the last; the
        frames between start from a mix of them and noise (latent power / scale)."""
        params = self.params
        last = self.last_frame_latent(p)
        w_first, w_last = frame_mix_weights(
            self.plan.frames, params.latent_power, params.latent_scale, params.latent_power_last, params.latent_scale_last, last is not None
        )
        generator = torch.Generator().manual_seed(int(p.seeds[0]))
        noise = torch.randn(p.init_latent.shape, generator=generator).to(p.init_latent.device, p.init_latent.dtype)
        p.init_latent = mix_start_latents(p.init_latent[0], last, noise, w_first.to(noise.device), w_last.to(noise.device))

    def last_frame_latent(self, p: StableDiffusionProcessingImg2Img) -> torch.Tensor | None:
        image = decode_image(self.params.last_frame, "last_frame")
        if image is None:
            return None
        image = images.resize_image(p.resize_mode, image.convert("RGB"), p.width, p.height)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
        method = sd_samplers_common.approximation_indexes.get(shared.opts.sd_vae_encode_method)
        return sd_samplers_common.images_tensor_to_samples(pixels, method, p.sd_model)[0].to(p.init_latent.device, p.init_latent.dtype)

    def write_outputs(self, p: StableDiffusionProcessing, processed: Processed) -> None:
        if (shared.state.interrupted or shared.state.skipped) and not shared.opts.save_incomplete_images:
            logger.info("not saving the animation of an interrupted job (Settings: save incomplete images)")
            return
        frames = processed.images[processed.index_of_first_image :]
        outputs_root = Path(p.outpath_samples).parent
        default = Path(p.outpath_samples).name, "AnimateDiff", datetime.date.today().isoformat()
        folder = safe_output_folder(outputs_root, _option("animatediff_outdir"), Path(*default))
        film = find_deforum_film(EXTENSION_DIR.parent) if self.params.interp == "FILM" else None
        for number in range(len(frames) // self.plan.frames):
            first = number * self.plan.frames
            video, fps = frames_to_save(frames[first : first + self.plan.frames], self.params, self.plan, film)
            seed = processed.all_seeds[first] if processed.all_seeds else p.seed
            meta = VideoMeta(fps=fps, loop=self.params.loop_number, infotext=processed.infotexts[first])
            stem = next_stem(folder, seed, self.params.request_id)
            paths = write_animation(video, folder, stem, self.params.format, meta, output_settings())
            self.outputs += [WrittenFile(path, len(video), fps, int(seed)) for path in paths]
        for file in self.outputs:
            logger.info("saved %s", file.path)
        self.answer_with_outputs(p, processed, frames[: len(frames) // self.plan.frames * self.plan.frames], outputs_root)

    def answer_with_outputs(self, p: StableDiffusionProcessing, processed: Processed, frames: list, outputs_root: Path) -> None:
        """The generation info lists the files written; an API answer's ``images`` are the
        encoded videos, as sd-webui-animatediff clients expect, then the frames if PNG was asked."""
        processed.extra_generation_params = {**processed.extra_generation_params, OUTPUTS_INFO_KEY: outputs_info(self.outputs, outputs_root)}
        if getattr(p, "is_api", False) and not _inside_xyz_grid():
            processed.images = encoded_videos(self.outputs) + (list(frames) if "PNG" in self.params.format else [])


def _route_model_calls(
    undo: UndoStack, sd_model: Any, runner: VideoModelRunner, progress: SamplingProgress, travel: PromptTravels, loop_prompts: bool
) -> None:
    """Every model call of the job goes through the runner; the sampler tells it, before each
    step, how many AND sub-prompts each frame has and which step it is. Prompt travel
    interpolates each frame's text conditioning there too."""
    apply_model = sd_model.apply_model
    undo.set_attr(sd_model, "apply_model", lambda x, t, cond, *a, **kw: runner(apply_model, x, t, cond, *a, **kw))

    frames = runner.frames
    conds_per_frame = 1

    def before_step(params: script_callbacks.CFGDenoiserParams) -> None:
        nonlocal conds_per_frame
        cond_rows = params.text_cond["crossattn"].shape[0] if isinstance(params.text_cond, dict) else params.text_cond.shape[0]
        runner.step = params.denoiser.step if params.denoiser is not None else params.sampling_step
        runner.rows_this_step = 0
        conds_per_frame = max(1, cond_rows // frames)
        progress.total_steps = params.total_sampling_steps
        if travel.prompt is not None:
            params.text_cond = travel_rows(params.text_cond, frames, conds_per_frame, travel.prompt.keys, loop_prompts, travel.method)
        if travel.negative is not None:
            params.text_uncond = travel_rows(params.text_uncond, frames, 1, travel.negative.keys, loop_prompts, travel.method)
        if conds_per_frame > 1:  # AND sub-prompts: whole videos, however A1111 splits the rows
            rows = params.x.shape[0]
            order = torch.cat([video_major_order(frames, conds_per_frame), torch.arange(cond_rows, rows)])
            params.x = params.x[order.to(params.x.device)]
            params.sigma = take_rows(params.sigma, order, rows)
            params.image_cond = take_rows(params.image_cond, order, rows)
            params.text_cond = take_rows(params.text_cond, order[:cond_rows], cond_rows)

    def after_step(params: script_callbacks.CFGDenoisedParams) -> None:
        if conds_per_frame > 1:
            skipped = runner.rows_this_step == conds_per_frame * frames
            restore_frame_major(params.x, frames, conds_per_frame, uncond_skipped=skipped)

    script_callbacks.on_cfg_denoiser(before_step, name="animatediff_video_rows")
    script_callbacks.on_cfg_denoised(after_step, name="animatediff_video_rows")
    undo.callback("remove cfg_denoiser callback", lambda: script_callbacks.remove_callbacks_for_function(before_step))
    undo.callback("remove cfg_denoised callback", lambda: script_callbacks.remove_callbacks_for_function(after_step))
    # Motion modules need whole videos per model call; the runner itself follows the
    # user's memory preference by running one video at a time when it is off.
    undo.set_item(shared.opts.data, "batch_cond_uncond", True)


def _lora_extension() -> LoraExtension | None:
    """A1111's built-in Lora extension (its folder is on sys.path), unless it is disabled."""
    try:
        import network
        import network_lora
        import networks
    except ImportError:
        return None
    return LoraExtension(networks, network, network_lora)


def _controlnet_script(p: StableDiffusionProcessing) -> scripts.Script | None:
    runner = getattr(p, "scripts", None)
    return next((s for s in getattr(runner, "alwayson_scripts", []) if s.title().lower() == "controlnet"), None)


def _controlnet_units(p: StableDiffusionProcessing) -> list:
    """sd-webui-controlnet's units of this job, as it will read them (dicts from the API)."""
    script = _controlnet_script(p)
    if script is None or not p.script_args:
        return []
    return list(p.script_args[script.args_from : script.args_to])


def _controlnet_params(p: StableDiffusionProcessing) -> list:
    """The control parameters ControlNet prepared for this job's sampling (hints included)."""
    network = getattr(_controlnet_script(p), "latest_network", None)
    return list(getattr(network, "control_params", None) or [])


def _shortest_controlnet_source(params: AnimateDiffParams, p: StableDiffusionProcessing) -> None:
    """Units that bring their own frame folder shorten the animation to their length."""
    counts = own_frame_counts(_controlnet_units(p), lambda folder: len(frame_files(folder)) if folder.is_dir() else 0)
    counts = [count for count in counts if count > 0]  # ControlNet reports a missing folder itself
    if counts and (params.video_length == 0 or params.video_length > min(counts)):
        params.video_length = min(counts)


def _read_video_source(params: AnimateDiffParams, p: StableDiffusionProcessing) -> VideoFrames | None:
    """The frames of the video source or frame folder, if any; 0 frames takes the video's count."""
    source = params.video_source or params.video_path
    if not source:
        return None
    video = read_video_frames(Path(source), max_frames=params.video_length or None)
    if params.video_length == 0 or params.video_length > video.frame_count:
        params.video_length = video.frame_count
    return video


class PromptTravels:
    """The job's prompt and negative prompt where they are travel prompts (``N: prompt`` lines)."""

    def __init__(self, prompt: TravelPrompt | None, negative: TravelPrompt | None, originals: tuple[str, str], frames: int, method: str):
        self.prompt = prompt
        self.negative = negative
        self.originals = originals
        self.frames = frames
        self.method = method

    @classmethod
    def of(cls, p: StableDiffusionProcessing, frames: int, method: str) -> PromptTravels:
        prompt = parse_travel_prompt(p.prompt, frames) if isinstance(p.prompt, str) else None
        negative = parse_travel_prompt(p.negative_prompt, frames) if isinstance(p.negative_prompt, str) else None
        for travel, which in ((prompt, "prompt"), (negative, "negative prompt")):
            if travel is not None:
                check_and_parts(travel, which)
        return cls(prompt, negative, (p.prompt, p.negative_prompt), frames, method)

    @property
    def active(self) -> bool:
        return self.prompt is not None or self.negative is not None

    def give_frames_their_prompts(self, p: StableDiffusionProcessing) -> None:
        if self.prompt is not None:
            p.prompt = frame_prompts(self.prompt, self.frames) * p.n_iter
        if self.negative is not None:
            p.negative_prompt = frame_prompts(self.negative, self.frames) * p.n_iter

    def show_original_prompts(self, p: StableDiffusionProcessing) -> None:
        if self.active:
            p.prompt, p.negative_prompt = self.originals
            p.main_prompt, p.main_negative_prompt = self.originals

    def show_original_batch_prompts(self, p: StableDiffusionProcessing) -> None:
        if self.active:
            p.prompts = [self.originals[0]] * len(p.prompts)
            p.negative_prompts = [self.originals[1]] * len(p.negative_prompts)

    def show_original_results(self, processed: Processed) -> None:
        if self.active:
            processed.prompt, processed.negative_prompt = self.originals
            processed.all_prompts = [self.originals[0]] * len(processed.all_prompts)
            processed.all_negative_prompts = [self.originals[1]] * len(processed.all_negative_prompts)


class SamplingProgress:
    """Shows passes × steps × windows in A1111's progress bar; stops at an interrupt between windows."""

    def __init__(self, passes: int = 1) -> None:
        self.total_steps = 0
        self.passes = passes
        self.pass_number = 0

    def window(self, step: int, window: int, windows: int) -> None:
        state = shared.state
        if _interrupted():
            raise sd_samplers_common.InterruptedException
        if (windows > 1 or self.passes > 1) and self.total_steps:
            state.sampling_steps = self.total_steps * windows * self.passes
            state.sampling_step = (self.pass_number * self.total_steps + step) * windows + window
            where = [f"FreeInit pass {self.pass_number + 1} of {self.passes}"] if self.passes > 1 else []
            where.append(f"step {step + 1}")
            where += [f"context window {window + 1} of {windows}"] if windows > 1 else []
            state.textinfo = "AnimateDiff: " + ", ".join(where)


def _interrupted() -> bool:
    return bool(shared.state.interrupted or shared.state.skipped)


class FirstNoiseLevel:
    """The first step's noise level of a sampling pass (k-diffusion sigma), read off the first
    denoiser call; timestep samplers pass a timestep, converted with the model's schedule."""

    def __init__(self, p: StableDiffusionProcessing):
        self.p = p
        self.sigma: float | None = None

    def record(self, params: script_callbacks.CFGDenoiserParams) -> None:
        if self.sigma is not None:
            return
        level = params.sigma.flatten()[0].float()
        if isinstance(params.denoiser, sd_samplers_timesteps.CFGDenoiserTimesteps):
            alpha = self.p.sd_model.alphas_cumprod[int(level)].float()
            level = ((1 - alpha) / alpha).sqrt()
        self.sigma = float(level)

    def read(self) -> float:
        if self.sigma is None:
            raise AnimateDiffError("FreeInit: the sampler never called the model, so the pass has no start")
        return self.sigma


def _fail_sampling(p: StableDiffusionProcessing, error: Exception) -> None:
    logger.error("%s", error)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    p.sample = fail
