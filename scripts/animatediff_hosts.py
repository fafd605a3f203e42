"""The WebUI as a job sees it (``lib_animatediff.webui.job.Host``): A1111's, or SD WebUI Forge's.

Forge keeps A1111's modules and callbacks but runs its own backend: the UNet sits in its
patcher's model, model calls go through that model's ``apply_model`` (keyword conditioning,
whole videos per call already), the noise schedule is the predictor's sigma table, and there is
no ``on_cfg_denoised``. Where they differ, :class:`Forge` says how (see docs/FORGE_FACTS.md).
"""

from __future__ import annotations

import importlib.util
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch
from modules import images, script_callbacks, scripts, sd_models, sd_samplers_common, sd_samplers_timesteps, shared
from modules.processing import StableDiffusionProcessingImg2Img, create_infotext
from PIL import Image

from lib_animatediff.media.writers import OutputSettings
from lib_animatediff.model.motion_module import MotionModuleSet
from lib_animatediff.model.noise_schedule import timestep_sigma, use_noise_schedule
from lib_animatediff.undo import UndoStack
from lib_animatediff.webui.alwayson import alwayson_script, script_args
from lib_animatediff.webui.controlnet import SD_WEBUI_CONTROLNET, ForgeUnitFields, UnitFields
from lib_animatediff.webui.deforum import find_deforum_film
from lib_animatediff.webui.i2i_batch import batch_tab_as_video
from lib_animatediff.webui.lora import LoraExtension, apply_motion_loras, merge_motion_loras, unet_strength
from lib_animatediff.webui.settings import SETTINGS, output_settings
from lib_animatediff.webui.state import WEBUI

EXTENSION_DIR = Path(scripts.basedir())
SELF_ATTENTION_GUIDANCE = "SelfAttentionGuidance Integrated (SD 1.x, SD 2.x, SDXL)"  # Forge's built-in, by its title


def option(key: str) -> Any:
    return getattr(shared.opts, key, SETTINGS[key][0] if key in SETTINGS else None)


def model_dir() -> Path:
    configured = getattr(shared.cmd_opts, "animatediff_model_dir", None) or option("animatediff_model_path")
    return Path(configured) if configured else EXTENSION_DIR / "model"


def registered(on_event: Any, callback: Any) -> Any:
    """``callback`` on one of A1111's callback lists, and how to take it off again."""
    on_event(callback, name="animatediff")
    return lambda: script_callbacks.remove_callbacks_for_function(callback)


class A1111:
    """The WebUI as a job sees it (``lib_animatediff.webui.job.Host``)."""

    model_dir = staticmethod(model_dir)
    option = staticmethod(option)
    webui_scope = WEBUI.scope
    whole_videos_per_call = False  # rows come frame-major, every frame's AND sub-prompts together
    controlnet_fields: UnitFields = SD_WEBUI_CONTROLNET

    @property
    def state(self) -> Any:
        return shared.state

    motion_modules = staticmethod(WEBUI.modules.get)
    share_video = staticmethod(WEBUI.share_video)
    unet = staticmethod(lambda model: model.model.diffusion_model)

    def route_model_calls(self, changes: UndoStack, model: Any, runner: Any) -> None:
        apply_model = model.apply_model
        changes.set_attr(model, "apply_model", lambda x, t, cond, *args, **kwargs: runner(apply_model, x, t, cond, *args, **kwargs))

    def use_noise_schedule(self, changes: UndoStack, p: Any, model: Any, alphas_cumprod: torch.Tensor) -> None:
        use_noise_schedule(changes, model, alphas_cumprod, lambda: sd_models.apply_alpha_schedule_override(model, p))

    def noise_level(self, p: Any, denoiser_params: Any) -> float:
        """The call's sigma; timestep samplers (DDIM, PLMS, UniPC) pass a timestep instead."""
        level = float(denoiser_params.sigma.flatten()[0])
        if not isinstance(denoiser_params.denoiser, sd_samplers_timesteps.CFGDenoiserTimesteps):
            return level
        return timestep_sigma(p.sd_model.alphas_cumprod, level)

    def options_data(self) -> dict:
        return shared.opts.data

    def output_settings(self) -> OutputSettings:
        return output_settings(option)

    is_img2img = staticmethod(lambda p: isinstance(p, StableDiffusionProcessingImg2Img))

    def encode_image(self, p: Any, image: Image.Image) -> torch.Tensor:
        image = images.resize_image(p.resize_mode, image.convert("RGB"), p.width, p.height)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
        method = sd_samplers_common.approximation_indexes.get(shared.opts.sd_vae_encode_method)
        return sd_samplers_common.images_tensor_to_samples(pixels, method, p.sd_model)[0]

    on_denoiser = staticmethod(lambda callback: registered(script_callbacks.on_cfg_denoiser, callback))
    on_denoised = staticmethod(lambda callback: registered(script_callbacks.on_cfg_denoised, callback))
    on_model_loaded = staticmethod(lambda callback: registered(script_callbacks.on_model_loaded, callback))

    def infotext(self, p: Any, index: int) -> str:  # as A1111 writes it into image ``index`` of the running batch
        return create_infotext(p, p.prompts, p.seeds, p.subseeds, index=index, all_negative_prompts=p.negative_prompts)

    def checkpoint_file(self, name: str) -> Path | None:
        info = sd_models.get_closet_checkpoint_match(name)
        return None if info is None else Path(info.filename)

    low_vram = staticmethod(lambda p: bool(getattr(p.sd_model, "lowvram", False)))  # --medvram, --lowvram
    lend_to_memory_manager = staticmethod(lambda changes, model, modules: None)  # A1111 moves models by --medvram alone
    whole_batch_readers = staticmethod(lambda p: [])

    interrupt = staticmethod(lambda: sd_samplers_common.InterruptedException())

    def apply_motion_loras(self, changes: UndoStack, modules: MotionModuleSet, p: Any) -> list[str]:
        """Through A1111's built-in Lora extension (its folder is on sys.path), unless it is disabled."""
        try:
            import network
            import network_lora
            import networks
        except ImportError:
            return []
        return apply_motion_loras(changes, modules, LoraExtension(networks, network, network_lora))

    def controlnet_units(self, p: Any) -> list:
        """sd-webui-controlnet's units of this job, as it will read them (dicts from the API)."""
        return list(script_args(p, "controlnet") or [])

    def controlnet_params(self, p: Any) -> list:
        """The control parameters ControlNet prepared for this job's sampling (hints included)."""
        return list(getattr(getattr(alwayson_script(p, "controlnet"), "latest_network", None), "control_params", None) or [])

    def film(self) -> Any:
        return find_deforum_film(EXTENSION_DIR.parent)

    def short_hash(self, path: Path) -> str:
        return WEBUI.short_hash(path, EXTENSION_DIR / "cache" / "hashes.json")

    is_api = staticmethod(lambda p: bool(getattr(p, "is_api", False)))

    def inside_xyz_grid(self) -> bool:
        """The X/Y/Z plot draws each cell from its first image, so its jobs keep their frames."""
        return any(Path(frame.filename).name == "xyz_grid.py" for frame in traceback.extract_stack())

    def hand_over_batch_tab(self) -> None:
        """From now until the WebUI unloads its scripts, an img2img Batch-tab run with AnimateDiff
        on is one AnimateDiff job. sd-webui-controlnet hands such a run over too (to
        ``scripts/animatediff_i2ibatch.py``): whichever of the two wraps the tab's loop last takes
        it, to the same job."""
        from modules import img2img
        from modules.processing import process_images

        WEBUI.lasting.undo_all()  # scripts executed again without an unload first
        WEBUI.lasting.wrap(img2img, "process_batch", lambda loop: batch_tab_as_video(loop, process_images))
        registered(script_callbacks.on_script_unloaded, WEBUI.lasting.undo_all)


class Forge(A1111):
    """SD WebUI Forge (2.0.1v1.10.1): what differs from A1111."""

    whole_videos_per_call = True  # each model call holds whole prompts' batches (videos), cond and uncond apart
    unet = staticmethod(lambda model: model.forge_objects.unet.model.diffusion_model)

    def route_model_calls(self, changes: UndoStack, model: Any, runner: Any) -> None:
        """Every patcher clone shares the one model whose ``apply_model`` the sampler calls, with
        keyword conditioning. Its memory estimate, which Forge reads to make room before sampling
        and to decide whether cond and uncond share a call, counts the rows one UNet call holds
        (a window's), not the whole video's."""
        k_model = model.forge_objects.unet.model
        apply_model, memory_required = k_model.apply_model, k_model.memory_required

        def routed(x: torch.Tensor, t: torch.Tensor, **conditioning: Any) -> torch.Tensor:
            return runner(lambda x, t, conditioning: apply_model(x, t, **_for_rows(conditioning, x.shape[0])), x, t, conditioning)

        def estimate(input_shape: list[int]) -> float:  # Forge passes it by keyword too
            return memory_required([runner.rows_per_model_call(input_shape[0]), *input_shape[1:]])

        changes.set_attr(k_model, "apply_model", routed)
        changes.set_attr(k_model, "memory_required", estimate)

    def use_noise_schedule(self, changes: UndoStack, p: Any, model: Any, alphas_cumprod: torch.Tensor) -> None:
        """The predictor's sigma table from ``alphas_cumprod``, with Zero Terminal SNR when the setting asks (as Forge applies it)."""
        from backend.modules.k_prediction import rescale_zero_terminal_snr_sigmas

        predictor = model.forge_objects.unet.model.predictor
        sigmas = ((1 - alphas_cumprod.double()) / alphas_cumprod.double()) ** 0.5
        if shared.opts.sd_noise_schedule == "Zero Terminal SNR":
            sigmas = rescale_zero_terminal_snr_sigmas(sigmas)
        sigmas = sigmas.float().to(predictor.sigmas.device)
        changes.set_attr(predictor, "sigmas", sigmas)
        changes.set_attr(predictor, "log_sigmas", sigmas.log())

    def noise_level(self, p: Any, denoiser_params: Any) -> float:
        return float(denoiser_params.sigma.flatten()[0])  # Forge turns a timestep sampler's timestep into a sigma first

    def apply_motion_loras(self, changes: UndoStack, modules: MotionModuleSet, p: Any) -> list[str]:
        """Forge's Lora extension has loaded the prompt's LoRAs but patches only its own UNet
        and text encoder: the motion LoRAs among them are merged into the motion modules."""
        try:
            import networks  # Forge's built-in sd_forge_lora
        except ImportError:
            return []
        entries = (getattr(p, "extra_network_data", None) or {}).get("lora", [])
        strengths = {entry.positional[0]: unet_strength(entry.positional, entry.named) for entry in entries if entry.positional}
        loras = [(Path(net.network_on_disk.filename), strengths.get(net.mentioned_name, 1.0)) for net in networks.loaded_networks]
        return merge_motion_loras(changes, modules, loras)

    @property
    def controlnet_fields(self) -> UnitFields:  # type: ignore[override]
        """Forge's ControlNet units, in batch mode by its own enum (its module is on the path once its scripts load)."""
        try:
            from lib_controlnet.enums import InputMode
        except ImportError:
            return ForgeUnitFields()
        return ForgeUnitFields(batch_mode=InputMode.BATCH)

    def controlnet_params(self, p: Any) -> list:
        return []  # its control network runs on the whole call, and a window's call takes its rows of the outputs

    def lend_to_memory_manager(self, changes: UndoStack, model: Any, modules: MotionModuleSet) -> None:
        """Forge's memory manager loads a sampling's models onto the GPU together (the UNet's patcher
        and its extra patchers), after freeing room for all of them, and later frees the least recently
        used when another model needs room. The motion modules join the UNet's extra patchers for the
        job, on the patcher sampling uses now and on the one each pass starts again from (Hires. fix)."""
        from backend.patcher.base import ModelPatcher

        objects = [model.forge_objects, getattr(model, "forge_objects_after_applying_lora", None)]
        unets = list({id(o.unet): o.unet for o in objects if o is not None}.values())
        patcher = ModelPatcher(modules, load_device=unets[0].load_device, offload_device=unets[0].offload_device)
        for unet in unets:
            changes.set_attr(unet, "extra_model_patchers_during_sampling", [*unet.extra_model_patchers_during_sampling, patcher])

    def whole_batch_readers(self, p: Any) -> list[str]:
        """Forge's Self-Attention Guidance keeps the middle block's attention of a model call and
        blurs the whole batch by it after CFG; it acts only above CFG 1 (its own check)."""
        args = script_args(p, SELF_ATTENTION_GUIDANCE)
        above_cfg_1 = p.cfg_scale > 1 or (getattr(p, "enable_hr", False) and getattr(p, "hr_cfg", 1.0) > 1)
        return [SELF_ATTENTION_GUIDANCE] if args and args[0] and above_cfg_1 else []


def _for_rows(conditioning: dict[str, Any], rows: int) -> dict[str, Any]:
    """A window's conditioning (its rows already taken) with the per-call bookkeeping Forge's
    patches read (the cond/uncond row marks and indices, reference-only and StyleAlign among
    them) redone for its ``rows``: each of the call's cond/uncond chunks gives the window's frames."""
    options = conditioning.get("transformer_options")
    if not isinstance(options, dict) or not options.get("cond_or_uncond") or options.get("sigmas") is None:
        return conditioning
    from backend.sampling.sampling_function import compute_cond_indices, compute_cond_mark

    chunks = options["cond_or_uncond"]
    sigmas = options["sigmas"][: rows // len(chunks)]
    options = {**options, "sigmas": sigmas, "cond_mark": compute_cond_mark(chunks, sigmas)}
    options["cond_indices"], options["uncond_indices"] = compute_cond_indices(chunks, sigmas)
    return {**conditioning, "transformer_options": options}


def is_forge() -> bool:
    return importlib.util.find_spec("modules_forge") is not None


def webui_host() -> A1111:
    return Forge() if is_forge() else A1111()
