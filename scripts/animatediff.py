"""AnimateDiff in the A1111 WebUI: the accordion, the settings, and A1111's hooks.

This file only translates between A1111 and ``lib_animatediff``: the life of a job
(validate → enter → sample → write → leave) is ``lib_animatediff/webui/job.py``, which reaches
the WebUI through :class:`A1111`, the host adapter below.
"""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from modules import images, paths, script_callbacks, scripts, sd_models, sd_samplers_common, sd_samplers_timesteps, shared
from modules.processing import Processed, StableDiffusionProcessing, StableDiffusionProcessingImg2Img, create_infotext
from PIL import Image

from lib_animatediff.log import logger
from lib_animatediff.media.writers import OutputSettings
from lib_animatediff.model.checkpoint import checkpoint_base
from lib_animatediff.model.families import BaseModel
from lib_animatediff.model.installed import strip_mark
from lib_animatediff.model.noise_schedule import timestep_sigma, use_noise_schedule
from lib_animatediff.undo import UndoStack
from lib_animatediff.webui.accordion import accordion_layout, settings_from_video
from lib_animatediff.webui.alwayson import alwayson_script, own_args
from lib_animatediff.webui.deforum import find_deforum_film
from lib_animatediff.webui.download_panel import download_panel
from lib_animatediff.webui.downloads import DownloadPlaces, DownloadService
from lib_animatediff.webui.frame_inpaint import finish_picture
from lib_animatediff.webui.infotext import INFOTEXT_KEY, LEGACY_FREEINIT_KEY, paste_reader
from lib_animatediff.webui.job import JOB_ATTRIBUTE, AnimationJob
from lib_animatediff.webui.lora import LoraExtension
from lib_animatediff.webui.params import PARAMS, AnimateDiffParams
from lib_animatediff.webui.routes import add_routes
from lib_animatediff.webui.settings import SETTINGS, output_settings
from lib_animatediff.webui.state import WEBUI
from lib_animatediff.webui.widgets import lay_out
from lib_animatediff.webui.xyz import AXES, LABEL_PREFIX, apply_axis_value

EXTENSION_DIR = Path(scripts.basedir())

# sd-webui-controlnet imports these as scripts.<name> mid-job, when this folder is off sys.path
for _name in ("scripts.animatediff_mm", "scripts.animatediff_utils", "scripts.animatediff_i2ibatch"):
    importlib.import_module(_name)


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

    interrupt = staticmethod(lambda: sd_samplers_common.InterruptedException())

    def lora_extension(self) -> LoraExtension | None:
        """A1111's built-in Lora extension (its folder is on sys.path), unless it is disabled."""
        try:
            import network
            import network_lora
            import networks
        except ImportError:
            return None
        return LoraExtension(networks, network, network_lora)

    def controlnet_units(self, p: Any) -> list:
        """sd-webui-controlnet's units of this job, as it will read them (dicts from the API)."""
        script = alwayson_script(p, "controlnet")
        return list(own_args(script, p.script_args)) if script is not None and p.script_args else []

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


HOST = A1111()


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
    return WEBUI.installed.choices(model_dir(), loaded_base_model())


def model_choice(name: str | None) -> str | None:
    """The dropdown entry of a file name (pasted infotext holds the bare name)."""
    return None if name is None else next((choice for choice in model_choices() if strip_mark(choice) == name), name)


def lora_dir() -> Path:
    return Path(getattr(shared.cmd_opts, "lora_dir", None) or Path(paths.models_path) / "Lora")


def controlnet_dir() -> Path:  # sd-webui-controlnet's --controlnet-dir, else the folder it always lists
    return Path(getattr(shared.cmd_opts, "controlnet_dir", None) or Path(paths.models_path) / "ControlNet")


DOWNLOADS = DownloadService(
    DownloadPlaces(model_dir, lora_dir, controlnet_dir, lambda: option("animatediff_catalog_file"), lambda: option("animatediff_download_mirror"),
                   loaded_base_model, lambda: WEBUI.hashes(EXTENSION_DIR / "cache" / "hashes.json")),
    WEBUI.downloads, WEBUI.installed,
)  # fmt: skip
script_callbacks.on_app_started(lambda demo, app: add_routes(app, DOWNLOADS))


def refreshed_model_choices(current: str | None) -> dict:
    choices = model_choices()
    names = [strip_mark(choice) for choice in choices]
    keep = current and strip_mark(current) in names
    return gr.update(choices=choices, value=choices[names.index(strip_mark(current))] if keep else (choices[0] if choices else None))


def on_ui_settings() -> None:
    widgets = {None: None, "checkbox_group": gr.CheckboxGroup, "slider": gr.Slider}
    for key, (default, label, widget, arguments) in SETTINGS.items():
        shared.opts.add_option(key, shared.OptionInfo(default, label, widgets[widget], arguments, section=("animatediff", "AnimateDiff")))


script_callbacks.on_ui_settings(on_ui_settings)


def register_xyz_axes() -> None:
    """AnimateDiff axes in A1111's X/Y/Z plot, once."""
    xyz = next((data.module for data in scripts.scripts_data if data.script_class.__module__ == "xyz_grid.py"), None)
    if xyz is None:
        logger.info("X/Y/Z plot script not found: no AnimateDiff axes")
        return
    if any(option.label.startswith(LABEL_PREFIX) for option in xyz.axis_options):
        return  # the UI is being rebuilt; the axes are there already
    for axis in AXES:
        kind = xyz.AxisOptionImg2Img if axis.img2img_only else xyz.AxisOption
        apply = lambda p, value, values, field=axis.field: apply_axis_value(p, field, value)  # noqa: E731
        xyz.axis_options.append(kind(LABEL_PREFIX + axis.label, axis.kind, apply, choices=axis.choices))


# The plot lists its axes when its UI is made, which with --nowebui happens before the
# before-UI callbacks run; A1111 loads its own scripts before extensions', so register now,
# and again (a no-op when done) before the UI for load orders where the plot comes later.
register_xyz_axes()
script_callbacks.on_before_ui(register_xyz_axes)


class AnimateDiffScript(scripts.Script):
    def title(self) -> str:
        return "AnimateDiff"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list:
        from modules.ui_components import InputAccordion, ToolButton

        tab = "img2img" if is_img2img else "txt2img"
        made: dict[str, Any] = {}
        with InputAccordion(False, label="AnimateDiff", elem_id=f"{tab}_animatediff") as made["enable"]:
            with gr.Row():
                models = model_choices()
                made["model"] = model = gr.Dropdown(
                    models, value=models[0] if models else None, label=PARAMS["model"].label, elem_id=f"{tab}_animatediff_model"
                )
                refresh = ToolButton("\U0001f504", elem_id=f"{tab}_animatediff_refresh_models", tooltip="Refresh the list for the checkpoint")
                to_cpu = ToolButton("\U0001f4e4", elem_id=f"{tab}_animatediff_to_cpu", tooltip="Move the motion module to the CPU")
                free = ToolButton("\U0001f5d1\ufe0f", elem_id=f"{tab}_animatediff_free", tooltip="Free the motion module from memory")
            refresh.click(fn=refreshed_model_choices, inputs=[model], outputs=[model])
            to_cpu.click(fn=WEBUI.modules.to_cpu, inputs=[], outputs=[])
            free.click(fn=WEBUI.modules.forget, inputs=[], outputs=[])
            defaults = AnimateDiffParams(format=list(option("animatediff_default_save_formats")))
            lay_out(accordion_layout(list(PARAMS)), tab, is_img2img, defaults, made)
            video, fps, frames = made["video_source"], made["fps"], made["video_length"]
            video.change(fn=settings_from_video, inputs=[video, fps, frames], outputs=[fps, frames])  # its rate, its length
            download_panel(DOWNLOADS, tab, model, refreshed_model_choices)
        readable = [name for name, param in PARAMS.items() if param.infotext or name in ("enable", "freeinit_enable")]
        self.infotext_fields = [(made[name], paste_reader(name)) for name in readable if name != "model"]
        self.infotext_fields.append((model, lambda infotext: model_choice(paste_reader("model")(infotext))))
        self.paste_field_names = [INFOTEXT_KEY, LEGACY_FREEINIT_KEY]
        return [made[name] for name in PARAMS]  # field order: positional arguments (UI and API) map onto it

    def before_process(self, p: StableDiffusionProcessing, *args: Any) -> None:
        WEBUI.scope.heal()
        AnimationJob.start(HOST, p, args)

    def process(self, p: StableDiffusionProcessing, *args: Any) -> None:
        if (job := getattr(p, JOB_ATTRIBUTE, None)) is not None:
            job.before_init(p)

    def before_process_batch(self, p: StableDiffusionProcessing, *args: Any, **kwargs: Any) -> None:
        if (job := getattr(p, JOB_ATTRIBUTE, None)) is not None:
            job.iteration_begins(p)

    def postprocess_batch_list(self, p: StableDiffusionProcessing, pp: Any, *args: Any, **kwargs: Any) -> None:
        if (job := getattr(p, JOB_ATTRIBUTE, None)) is not None:
            job.travel.show_original_batch_prompts(p)

    def postprocess_maskoverlay(self, p: StableDiffusionProcessing, mask_overlay: Any, *args: Any) -> None:
        finish_picture(p, mask_overlay)

    def postprocess_image_after_composite(self, p: StableDiffusionProcessing, pp: Any, *args: Any) -> None:
        if (job := getattr(p, JOB_ATTRIBUTE, None)) is not None:
            job.frame_done(p, pp)

    def postprocess(self, p: StableDiffusionProcessing, processed: Processed, *args: Any) -> None:
        if (job := getattr(p, JOB_ATTRIBUTE, None)) is not None:
            try:
                job.write(p, processed)
            finally:
                job.leave()
