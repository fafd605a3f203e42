"""The life of one AnimateDiff job in the WebUI: validate → enter → sample → write → leave.

A job is written against :class:`Host`, the few things it needs from A1111, which the script
implements with A1111's own modules; here nothing imports them, so the whole life of a job is
unit-tested with a stand-in host and processing object. A1111 calls the job from its script
hooks, in this order:

* ``start`` (``before_process``): the arguments are validated once and frozen, the final
  values (frames from a video source, the context the module uses) set; the job's one
  :class:`UndoStack` is opened, and the job's frame folder and its wrappers of ``p.sample`` and
  ``p.close`` (and of ``p.setup_prompts`` and ``p.init``, between which other extensions may
  draw wildcards per frame: see ``prompt_rewrites``) are entered on it. Any error fails the job
  through one path: everything is undone and sampling raises the error (A1111 only logs what
  ``before_process`` raises).
* ``before_init`` / ``iteration_begins`` (``process`` / ``before_process_batch``): img2img builds
  its sampler, which copies the noise schedule, in ``p.init()``; the module's schedule is in place
  around it (scope ``init``). When an iteration of the batch count begins, the last one's
  animation is written.
* ``sample`` (A1111's ``p.sample``): the WebUI's changes (noise schedule, motion modules, motion
  LoRA modules, model-call routing, one option) are entered for the length of sampling (scope
  ``sampling``), then FreeInit's passes, if any, each one A1111's own sampling (scope ``pass``).
* ``frame_done`` (``postprocess_image_after_composite``): each decoded frame, as A1111 finishes it.
* ``write`` (``postprocess``): the videos not written yet, and what the API answers.
* ``leave`` (end of ``postprocess``, and ``p.close()``, which A1111 calls after errors too):
  the job's stack is undone.

The scopes that change the WebUI itself (``init``, ``sampling``) are opened through the host's
:class:`WebUIScope`, so the next job heals them if this one never got to close them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image
from torch import nn

from .. import __version__
from ..errors import AnimateDiffError, ParameterError
from ..log import logger
from ..media.images import decode_image
from ..media.interpolation import FILM, OPTICAL_FLOW, FrameInterpolator
from ..media.outputs import OUTPUTS_INFO_KEY, outputs_info
from ..media.video_input import FrameFolder, VideoClip, VideoInputError, frame_files, read_video_frames, resize_frames
from ..media.writers import FRAME_FORMATS, OutputSettings
from ..model.checkpoint import checkpoint_unet
from ..model.files import find_motion_module
from ..model.injection import MotionModuleInjection, VideoInCall
from ..model.installed import strip_mark
from ..model.motion_module import MotionModuleSet
from ..model.unet_layout import unet_misfit
from ..sampling.freeinit import FirstNoiseLevel, FreeInitSettings, PassNoise, PassStart, run_passes
from ..sampling.freenoise import freenoise
from ..sampling.latent_mix import frame_mix_weights, mix_start_latents
from ..sampling.motion_scale import parse_motion_scale
from ..sampling.plan import JobPlan, plan_job
from ..sampling.progress import SamplingProgress
from ..sampling.routing import ModelCallRouting
from ..sampling.video_runner import VideoModelRunner
from ..undo import UndoStack
from .controlnet import (
    UnitFields,
    feed_frames,
    hints_for_rows,
    own_frame_counts,
    refuse_ip_adapters_per_frame,
    refuse_units_it_cannot_run,
    unit_value,
    units_to_feed,
)
from .deforum import FILM_MODEL_NAME
from .gallery import answer_api, show_in_gallery
from .infotext import INFOTEXT_KEY, animatediff_infotext
from .params import AnimateDiffParams
from .prompt_rewrites import prompt_lists, settle_prompt_rewrites
from .saving import AnimationSaver
from .sent_inputs import with_sent_inputs_on_server
from .state import WebUIScope
from .travels import PromptTravels
from .xyz import with_axis_values

JOB_ATTRIBUTE = "_animatediff_job"  # where a job lives on A1111's processing object
# set on a processing object whose frames A1111 itself is to save (the img2img Batch tab's output folder)
SAVE_FRAMES_AS_IMAGES = "_animatediff_save_frames_as_images"


class Host(Protocol):
    """What a job needs from the WebUI (the script implements it with A1111's modules)."""

    state: Any  # progress and interrupt state: sampling_step(s), textinfo, interrupted, skipped
    webui_scope: WebUIScope  # which job's scope has the WebUI changed now
    # True where every model call already holds whole videos (Forge); A1111 lays rows out frame-major
    whole_videos_per_call: bool

    def model_dir(self) -> Path: ...
    def option(self, key: str) -> Any: ...
    def options_data(self) -> dict: ...  # the WebUI's settings, to change one for a job
    def output_settings(self) -> OutputSettings: ...
    def is_img2img(self, p: Any) -> bool: ...
    def motion_modules(self, path: Path) -> MotionModuleSet: ...  # the loaded modules of a file, kept between jobs
    def unet(self, model: Any) -> nn.Module: ...  # the UNet of one of the WebUI's models
    def route_model_calls(self, changes: UndoStack, model: Any, runner: Callable[..., Any]) -> None: ...  # every call through runner
    # the schedule a model samples with, the WebUI's overrides (zero terminal SNR, …) on top
    def use_noise_schedule(self, changes: UndoStack, p: Any, model: Any, alphas_cumprod: torch.Tensor) -> None: ...
    def noise_level(self, p: Any, denoiser_params: Any) -> float: ...  # a denoiser call's sigma (timestep samplers pass a timestep)
    def share_video(self, video: VideoInCall) -> Callable[[], None]: ...  # the running call's video for other extensions' layers
    def encode_image(self, p: Any, image: Image.Image) -> torch.Tensor: ...
    def on_denoiser(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...
    def on_denoised(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...
    def interrupt(self) -> BaseException: ...
    def apply_motion_loras(self, changes: UndoStack, modules: MotionModuleSet, p: Any) -> list[str]: ...  # the prompt's, until undone
    controlnet_fields: UnitFields  # how its ControlNet's units are read and fed frames
    def controlnet_units(self, p: Any) -> list: ...
    def controlnet_params(self, p: Any) -> list: ...
    def film(self) -> FrameInterpolator | None: ...
    def short_hash(self, path: Path) -> str: ...
    def is_api(self, p: Any) -> bool: ...
    def inside_xyz_grid(self) -> bool: ...
    def checkpoint_file(self, name: str) -> Path | None: ...  # the file of a checkpoint named in a request
    def on_model_loaded(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...
    def low_vram(self, p: Any) -> bool: ...  # --medvram / --lowvram: models leave the GPU when not in use
    # the motion modules loaded, counted and freed with ``model`` by the WebUI's memory manager while it samples (Forge's)
    def lend_to_memory_manager(self, changes: UndoStack, model: Any, modules: MotionModuleSet) -> None: ...
    # the extensions on in this job that take one model call's batch for the whole batch of images (Forge's SAG)
    def whole_batch_readers(self, p: Any) -> list[str]: ...
    def infotext(self, p: Any, index: int) -> str: ...  # what A1111 writes into the running batch's image ``index``


def final_video_length(params: AnimateDiffParams, source_frames: int | None, unit_frames: Sequence[int]) -> int:
    """The frames to make: what was asked, shortened to the video source and to the frame
    folders ControlNet units bring (0 asked: as long as the shortest source, else one window)."""
    lengths = [count for count in (source_frames, *unit_frames) if count]
    if lengths and (params.video_length == 0 or params.video_length > min(lengths)):
        return min(lengths)
    return params.video_length


DEFAULT_FPS = 8


def final_fps(params: AnimateDiffParams, video: VideoClip | None) -> int:
    """The frame rate to save at: as asked, or for 0 the video source's (rounded; 8 without one)."""
    if params.fps:
        return params.fps
    return max(1, round(video.fps)) if video is not None and video.fps else DEFAULT_FPS


class AnimationJob:
    """One enabled job, from its validated parameters to its written videos."""

    def __init__(
        self,
        host: Host,
        params: AnimateDiffParams,
        plan: JobPlan,
        model_path: Path,
        travel: PromptTravels,
        video: VideoClip | None,
        fps: int = DEFAULT_FPS,
        film: FrameInterpolator | None = None,
    ):
        self.host = host
        self.params = params  # the request, as sent
        self.plan = plan  # the frames and windows it resolved to
        self.fps = fps  # the frame rate it is saved at (a video source's for 0)
        self.model_path = model_path
        self.travel = travel
        self.video = video
        self.freeinit = FreeInitSettings.from_params(params)
        self.motion = parse_motion_scale(params.motion_scale, params.motion_start, params.motion_end)
        self.stack = UndoStack()
        self.saver = AnimationSaver(host, params, plan, fps, film)

    # ------------------------------------------------------------------ validate → enter

    @classmethod
    def start(cls, host: Host, p: Any, args: Sequence[Any]) -> AnimationJob | None:
        """The job of ``p``'s AnimateDiff arguments, entered; None when AnimateDiff is off.

        On an error nothing stays changed and ``p.sample`` raises it, so the request fails with
        the message (HTTP 422 for arguments, see ``errors.py``) and the WebUI keeps serving.
        """
        stack = UndoStack()
        try:
            params = with_axis_values(AnimateDiffParams.from_args(args), p)
            if not params.enable:
                return None
            job = cls._validated(host, p, with_sent_inputs_on_server(params, host.controlnet_units(p), stack, host.controlnet_fields))
            job.stack = stack
            job._enter(p)
            return job
        except Exception as error:  # noqa: BLE001 - whatever failed, nothing stays changed and the job fails
            stack.undo_all()
            _fail_sampling(p, error, stack)
            return None

    @classmethod
    def _validated(cls, host: Host, p: Any, params: AnimateDiffParams) -> AnimationJob:
        path = find_motion_module(host.model_dir(), strip_mark(params.model))
        video = _read_video_source(params)
        if video is not None and params.last_frame is not None and host.is_img2img(p):
            raise ParameterError(
                "AnimateDiff argument 'last_frame' is for img2img from one image (the main image is the first frame); "
                "with a video source every frame starts from its own video frame: leave last_frame empty"
            )
        film = host.film() if params.interp == FILM else None
        if params.interp == FILM and film is None:
            raise ParameterError(
                f"AnimateDiff argument 'interp' {FILM!r} runs Deforum's FILM network, which needs the sd-webui-deforum extension "
                f"and its FILM model ({FILM_MODEL_NAME}); without them use {OPTICAL_FLOW!r}, the built-in interpolator"
            )
        units, count_files = host.controlnet_units(p), lambda folder: len(frame_files(folder)) if folder.is_dir() else 0
        fields = host.controlnet_fields
        refuse_units_it_cannot_run(units, fields)
        refuse_ip_adapters_per_frame(units, video is not None, count_files, fields)
        frames = final_video_length(params, video and video.frame_count, own_frame_counts(units, count_files, fields))
        modules = host.motion_modules(path)
        plan = plan_job(params.window_request(frames), modules)
        _refuse_whole_batch_readers(host.whole_batch_readers(p), plan)
        _check_checkpoints_switched_to(host, p, modules)
        parse_motion_scale(params.motion_scale).check_frames(plan.frames)
        return cls(host, params, plan, path, PromptTravels.of(p, plan.frames), video, final_fps(params, video), film)

    def _enter(self, p: Any) -> None:
        stack = self.stack
        if self.video is not None:
            self._use_video_frames(p, self.video)
        self.travel.give_frames_their_prompts(p)
        p.batch_size = self.plan.frames
        p.do_not_save_grid = True
        # the frames are written where the formats say, not once more as loose images
        if not getattr(p, SAVE_FRAMES_AS_IMAGES, False):
            p.do_not_save_samples = True
        model_hash = self.host.short_hash(self.model_path)
        used = {
            "model": self.model_path.relative_to(self.host.model_dir()).as_posix(), "video_length": self.plan.frames,
            "frames_per_window": self.plan.context, "fps": self.fps,
        }  # fmt: skip
        p.extra_generation_params[INFOTEXT_KEY] = animatediff_infotext(self.params, model_hash, __version__, self.host.is_img2img(p), used)
        sample, close = p.sample, p.close
        stack.set_attr(p, "sample", lambda *args, **kwargs: self.sample(p, sample, *args, **kwargs))
        stack.set_attr(p, "close", lambda: self._close(p, close))
        stack.set_attr(p, JOB_ATTRIBUTE, self)
        self._settle_prompt_rewrites(p)

    def _settle_prompt_rewrites(self, p: Any) -> None:
        """What A1111 sets up is one prompt per frame; extensions that draw wildcards per image
        rewrite it in their ``process`` hooks, after which (in ``p.init``, before the batch loop)
        each animation is given one draw (see :mod:`.prompt_rewrites`)."""
        if not (hasattr(p, "setup_prompts") and hasattr(p, "init")):
            return
        set_up: dict[str, list[str]] = {}
        setup_prompts, init = p.setup_prompts, p.init

        def recorded_setup() -> None:
            setup_prompts()
            set_up.update(prompt_lists(p))

        def settled_init(*args: Any, **kwargs: Any) -> Any:
            settle_prompt_rewrites(p, set_up, self.plan.frames)
            return init(*args, **kwargs)

        self.stack.set_attr(p, "setup_prompts", recorded_setup)
        self.stack.set_attr(p, "init", settled_init)

    def _use_video_frames(self, p: Any, video: VideoClip) -> None:
        """Video to video: the source's frames, resized to the job, are kept for the job in a
        frame folder (removed when the job leaves, unless settings keep it); in img2img they are
        the frames' init images, and ControlNet units without an input of their own take them."""
        frames = resize_frames(video.frames[: self.plan.frames], p.width, p.height)
        extract_to = self.host.option("animatediff_frame_extract_path") or None
        keep = bool(self.host.option("animatediff_keep_extracted_frames"))
        folder = self.stack.enter_context(FrameFolder(Path(extract_to) if extract_to else None, keep=keep))
        folder.save(frames)
        logger.info("video source: %d frames at %s fps from %s", len(frames), video.fps, video.source)
        if self.host.is_img2img(p):
            p.init_images = frames
        masks = Path(self.params.mask_path) if self.params.mask_path else None
        fields = self.host.controlnet_fields
        for unit in units_to_feed(self.host.controlnet_units(p), fields):
            feed_frames(unit, folder.path, masks, self.stack, fields)
            logger.info("ControlNet unit %s takes the video's frames", unit_value(unit, "model", "?"))

    # ------------------------------------------------------------------ img2img's sampler

    def before_init(self, p: Any) -> None:
        """img2img builds its sampler, which copies the noise schedule, in ``p.init()``, before
        sampling: the module's schedule is in place from here to the first batch."""
        self.travel.show_original_prompts(p)
        if self.host.is_img2img(p):
            self.host.webui_scope.begin(self.stack, "init")
            self._use_module_schedule(p.sd_model, p)

    def iteration_begins(self, p: Any) -> None:
        self.host.webui_scope.end(self.stack)
        self.saver.iteration_began(p)

    def _use_module_schedule(self, model: Any, p: Any) -> None:
        """The motion module's noise schedule on ``model``, with the WebUI's overrides (zero
        terminal SNR, …) on top, in the job's open scope."""
        schedule = self.host.motion_modules(self.model_path).family.noise_schedule.alphas_cumprod()
        self.host.use_noise_schedule(self.stack, p, model, schedule)

    # ------------------------------------------------------------------ sample

    def sample(self, p: Any, original_sample: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A1111's sampling, with the motion modules in the UNet, once per FreeInit pass."""
        if getattr(p, "init_latent", None) is not None and self.video is None:
            self._mix_start_latents(p)
        with self.host.webui_scope.changes(self.stack, "sampling") as changes:
            progress = self._enter_sampling(p, changes)
            level = FirstNoiseLevel()
            pass_noise: list[PassNoise] = []
            if self.freeinit.enable:
                record = lambda params: level.record(self.host.noise_level(p, params))  # noqa: E731
                changes.callback("remove FreeInit's denoiser callback", self.host.on_denoiser(record))

            reschedule = self._freenoise(int(p.seeds[0])) if self.params.freenoise else None

            def sample_pass(number: int, noise: torch.Tensor | None) -> Any:
                progress.pass_number = number
                level.sigma = None
                with changes.scope("pass") as this_pass:
                    if self.freeinit.enable or reschedule is not None:
                        pass_noise.append(PassNoise(p.rng, noise, reschedule))  # hands out the pass's start, records it
                        this_pass.set_attr(p, "rng", pass_noise[-1])
                    if number < progress.passes - 1 and getattr(p, "enable_hr", False):
                        this_pass.set_attr(p, "enable_hr", False)  # hires fix only after the last pass
                    return original_sample(*args, **kwargs)

            def pass_start() -> PassStart:
                if pass_noise[-1].first is None:
                    raise AnimateDiffError("FreeInit: the sampler drew no noise, so the pass has no start")
                return PassStart(getattr(p, "init_latent", None), level.read(), pass_noise[-1].first)

            samples = run_passes(self.freeinit, self.plan.frames, int(p.seeds[0]), sample_pass, pass_start, lambda: progress.stopped)
            self.saver.sampled(finished=not progress.stopped)  # an interrupt or a skip ends this animation unfinished
            return samples

    def _enter_sampling(self, p: Any, changes: UndoStack) -> SamplingProgress:
        """Everything sampling changes in the WebUI, on ``changes``: the model's (noise schedule,
        motion modules, every model call through the video runner; again for a model A1111
        loads mid-job, as Hires. fix with another checkpoint and the refiner do), motion LoRA
        modules, the denoiser callbacks, and whole videos per call (``batch_cond_uncond``)."""
        host, plan = self.host, self.plan
        modules = host.motion_modules(self.model_path)
        if host.low_vram(p):  # first in the scope, so undone last: after the modules leave the UNet
            changes.callback("move the motion modules to the CPU (--medvram/--lowvram)", lambda: release_to_cpu(modules))
        frames = VideoInCall()
        changes.callback("stop sharing the running call's video", host.share_video(frames))
        host.apply_motion_loras(changes, modules, p)
        progress = SamplingProgress(host.state, host.interrupt, self.freeinit.iterations if self.freeinit.enable else 1, plan.frames)
        control = host.controlnet_params(p)
        runner = VideoModelRunner(
            frames, plan.schedule, plan.frames,
            videos_per_call=None if host.option("batch_cond_uncond") else 1, fuse=self.params.fuse, on_window=progress.window,
            around_call=(
                (lambda index, device: hints_for_rows(control, index, plan.frames, device, routing.conds_per_frame * plan.frames))
                if control else None
            ),
            frame_scale=None if self.motion.is_one else self._frame_scale(progress),
        )  # fmt: skip
        bound: list[Any] = []

        def bind(model: Any) -> None:
            """The module's schedule on ``model``; on a model not seen yet, the motion modules in
            its UNet and its calls through the runner too."""
            self._use_module_schedule(model, p)
            if any(model is seen for seen in bound):
                return
            bound.append(model)
            if not self.motion.is_off:  # a motion scale of 0 throughout: the checkpoint alone, per frame
                injection = MotionModuleInjection(
                    host.unet(model), modules, pe_spacing=plan.pe_spacing, temperature=self.params.motion_attention_scale,
                    frames=frames,
                )  # fmt: skip
                changes.enter_context(injection)
                host.lend_to_memory_manager(changes, model, modules)
            host.route_model_calls(changes, model, runner)

        travels = [self.travel.routing(self.params.closed_loop_mode.loops_prompts, self.params.travel_interp, hires) for hires in (False, True)]
        routing = ModelCallRouting(runner, progress, travels[0], reorder_rows=not host.whole_videos_per_call)

        def follow(_params: Any) -> None:
            """Each step: the pass's prompt travel (Hires. fix may have its own), and a model A1111
            switched to without loading it (one it had kept loaded) bound."""
            routing.travel = travels[bool(getattr(p, "is_hr_pass", False))]
            if not any(p.sd_model is seen for seen in bound):
                bind(p.sd_model)

        bind(p.sd_model)
        changes.callback("remove the model-loaded callback", host.on_model_loaded(_logged(bind)))
        changes.callback("remove the model-following callback", host.on_denoiser(follow))
        changes.callback("remove the denoiser callback", host.on_denoiser(routing.before_step))
        changes.callback("remove the denoised callback", host.on_denoised(routing.after_step))
        # Motion modules need whole videos per model call; the runner follows the user's memory
        # preference by running one video at a time when it is off.
        changes.set_item(host.options_data(), "batch_cond_uncond", True)
        return progress

    def _freenoise(self, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """FreeNoise over the job's windows: the first window's noise, shuffled, for every later stretch."""
        hop = self.plan.schedule.hop
        return lambda noise: freenoise(noise, self.plan.context, hop, seed)

    def _frame_scale(self, progress: SamplingProgress) -> Callable[[int, list[int]], torch.Tensor]:
        """How strongly the motion modules act on a window's frames at a step (``motion_scale``,
        ``motion_start``, ``motion_end``)."""
        per_frame = self.motion.per_frame(self.plan.frames)

        def scale(step: int, window: list[int]) -> torch.Tensor:
            return per_frame[window] if self.motion.acts_at(step, progress.total_steps) else torch.zeros(len(window))

        return scale

    def _mix_start_latents(self, p: Any) -> None:
        """img2img: the main image is the first frame, the optional last frame the last; the
        frames between start from a mix of them and noise (latent power / scale)."""
        params = self.params
        image = decode_image(params.last_frame, "last_frame")
        last = None if image is None else self.host.encode_image(p, image).to(p.init_latent.device, p.init_latent.dtype)
        w_first, w_last = frame_mix_weights(
            self.plan.frames, params.latent_power, params.latent_scale, params.latent_power_last, params.latent_scale_last, last is not None
        )
        generator = torch.Generator().manual_seed(int(p.seeds[0]))
        noise = torch.randn(p.init_latent.shape, generator=generator).to(p.init_latent.device, p.init_latent.dtype)
        p.init_latent = mix_start_latents(p.init_latent[0], last, noise, w_first.to(noise.device), w_last.to(noise.device))

    # ------------------------------------------------------------------ write → leave

    def frame_done(self, p: Any, holder: Any) -> None:
        """A decoded frame (``postprocess_image_after_composite``)."""
        self.saver.frame_done(p, holder)

    def write(self, p: Any, processed: Any) -> None:
        """The videos not written yet (see :mod:`.saving`), the files listed in the generation
        info, and what is shown: in the UI's gallery the animations, then the frames when PNG was
        asked; for an API client the encoded videos, then the frames; the X/Y/Z plot keeps the frames."""
        self.travel.show_original_results(processed)
        frames = processed.images[processed.index_of_first_image :]
        self.saver.write_rest(p, frames, processed.infotexts, processed.all_seeds or [p.seed] * len(frames))
        if not self.saver.saved:
            return  # A1111's answer as it is: the frames it decoded
        outputs = self.saver.outputs
        listed = outputs_info(outputs, Path(p.outpath_samples).parent)
        processed.extra_generation_params = {**processed.extra_generation_params, OUTPUTS_INFO_KEY: listed}
        if self.host.inside_xyz_grid():
            return
        present = answer_api if self.host.is_api(p) else show_in_gallery
        present(processed, frames, outputs, self.plan.frames, any(name in FRAME_FORMATS for name in self.params.format))

    def leave(self) -> None:
        """Undo everything the job entered (idempotent)."""
        self.host.webui_scope.end(self.stack)
        self.stack.undo_all()

    def _close(self, p: Any, close: Callable[[], None]) -> None:
        try:
            self.leave()
        finally:
            close()


def _check_checkpoints_switched_to(host: Host, p: Any, modules: MotionModuleSet) -> None:
    """Refuses a refiner or Hires. fix checkpoint whose UNet the motion modules cannot run in:
    its steps would make frames that come apart."""
    named = {
        "refiner": getattr(p, "refiner_checkpoint", None),
        "Hires. fix checkpoint": getattr(p, "hr_checkpoint_name", None) if getattr(p, "enable_hr", False) else None,
    }
    for role, name in named.items():
        if not name or name in ("None", "none", "Use same checkpoint"):
            continue
        path = host.checkpoint_file(name)
        unet = None if path is None else checkpoint_unet(path)
        reason = None if unet is None else unet_misfit(modules, unet.levels, unet.channels)
        if reason is not None:
            raise ParameterError(
                f"AnimateDiff cannot run with the {role} {name}: {reason}; its steps would have no motion modules "
                f"and the frames would come apart. Choose a {role} of the loaded checkpoint's kind, or none"
            )


def _refuse_whole_batch_readers(names: Sequence[str], plan: JobPlan) -> None:
    """A refusal of the first extension that takes a model call's batch for every image when the
    calls hold one context window each: what it keeps of a call would cover one window's frames."""
    if names and not plan.calls_hold_every_frame:
        raise ParameterError(
            f"{names[0]} takes each model call's batch for the whole batch of images, but with {plan.frames} frames in context "
            f"windows of {plan.context} a model call holds one window's frames. Turn it off, or let every call hold all the "
            f"frames: AnimateDiff argument 'context_schedule' 'views' (the UNet sees every frame, the motion modules attend "
            f"in windows), or no more frames than the context batch size ({plan.context})"
        )


def release_to_cpu(modules: MotionModuleSet) -> None:
    modules.to("cpu")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _logged(callback: Callable[[Any], None]) -> Callable[[Any], None]:
    """``callback`` for a WebUI callback list, whose errors the WebUI would only print: logged here, by us."""

    def call(value: Any) -> None:
        try:
            callback(value)
        except Exception as error:  # noqa: BLE001 - the WebUI goes on loading its model; say why the job cannot follow
            logger.error("the model loaded mid-job cannot take the motion modules: %s", error)

    return call


def _read_video_source(params: AnimateDiffParams) -> VideoClip | None:
    """The frames of the video source or frame folder, at most the frames asked for."""
    field = "video_source" if params.video_source else "video_path"
    source = params.video_source or params.video_path
    if not source:
        return None
    try:
        return read_video_frames(Path(source), max_frames=params.video_length or None)
    except VideoInputError as error:
        raise VideoInputError(f"AnimateDiff argument {field!r}: {error}") from error


def _fail_sampling(p: Any, error: Exception, stack: UndoStack) -> None:
    """``p.sample`` raises ``error`` until ``p.close()``."""
    logger.error("%s", error)
    close = p.close

    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    def close_failed_job() -> None:
        try:
            stack.undo_all()
        finally:
            close()

    stack.set_attr(p, "sample", fail)
    stack.set_attr(p, "close", close_failed_job)
