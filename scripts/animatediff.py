"""AnimateDiff in the A1111 WebUI (and SD WebUI Forge): the accordion, the settings, and the WebUI's hooks.

This file only translates between the WebUI and ``lib_animatediff``: the life of a job
(validate → enter → sample → write → leave) is ``lib_animatediff/webui/job.py``, which reaches
the WebUI through its host adapter (``animatediff_hosts.py``: A1111's or Forge's, chosen at load).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import gradio as gr
from modules import paths, script_callbacks, scripts, sd_models, shared
from modules.processing import Processed, StableDiffusionProcessing

from lib_animatediff.log import logger
from lib_animatediff.model.checkpoint import checkpoint_base
from lib_animatediff.model.families import BaseModel
from lib_animatediff.model.installed import strip_mark
from lib_animatediff.webui.accordion import accordion_layout, settings_from_video
from lib_animatediff.webui.download_panel import download_panel
from lib_animatediff.webui.downloads import DownloadPlaces, DownloadService
from lib_animatediff.webui.frame_inpaint import finish_picture
from lib_animatediff.webui.infotext import INFOTEXT_KEY, LEGACY_FREEINIT_KEY, paste_reader
from lib_animatediff.webui.job import JOB_ATTRIBUTE, AnimationJob
from lib_animatediff.webui.params import PARAMS, AnimateDiffParams
from lib_animatediff.webui.routes import add_routes
from lib_animatediff.webui.settings import SETTINGS
from lib_animatediff.webui.state import WEBUI
from lib_animatediff.webui.widgets import lay_out
from lib_animatediff.webui.xyz import AXES, LABEL_PREFIX, apply_axis_value

EXTENSION_DIR = Path(scripts.basedir())

# sd-webui-controlnet imports these as scripts.<name> mid-job, when this folder is off sys.path
for _name in ("scripts.animatediff_mm", "scripts.animatediff_utils", "scripts.animatediff_i2ibatch"):
    importlib.import_module(_name)
_hosts = importlib.import_module("scripts.animatediff_hosts")
option, model_dir, webui_host = _hosts.option, _hosts.model_dir, _hosts.webui_host


HOST = webui_host()
HOST.hand_over_batch_tab()


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
