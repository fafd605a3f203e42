"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py): the img2img Batch tab over HTTP.

POST /animatediff-test/img2img-batch {"input_dir", "output_dir", "mask_dir", "prompt", "steps", "seed",
"denoising_strength", "mask_blur", "inpaint_full_res", "animatediff": {AnimateDiff's named
arguments}, "controlnet": [units]} builds the img2img processing object as the Batch tab does
(no init image, the scripts' UI defaults with these arguments over them, the UI's inpaint
defaults: "Whole picture", blur 4) and calls modules.img2img.process_batch, which AnimateDiff
wraps to take a run with AnimateDiff on (as sd-webui-controlnet does, where installed).
Answers {"images": count, "pngs": [base64 PNG of each image], "info": the Processed's js(),
"layers": the wrappers a call of process_batch passes, outermost first, down to A1111's loop},
or 422 with the error's message.
"""
from fastapi import Body
from fastapi.responses import JSONResponse
from modules import call_queue, img2img, processing, script_callbacks, scripts, shared
from modules.api.api import Api, encode_pil_to_base64

ROUTE = "/animatediff-test/img2img-batch"


def _args(request):
    runner = scripts.scripts_img2img
    args = Api.init_default_script_args(None, runner)  # the UI's defaults of every script
    for script in runner.alwayson_scripts:
        # since v1.10 steps, sampler, scheduler and seed are built-in scripts' arguments, set on p in their setup
        if script.title() == "Sampler":
            args[script.args_from : script.args_from + 3] = [request.get("steps", 2), "Euler", "Automatic"]
        elif script.title() == "Seed":
            args[script.args_from] = request.get("seed", 1)
        elif script.title() == "AnimateDiff":
            args[script.args_from] = request["animatediff"]
        elif script.title().lower() == "controlnet":
            for index, unit in enumerate(request.get("controlnet", [])):
                args[script.args_from + index] = unit
    return tuple(args)


def _layers():
    """AnimateDiff's wrappers keep what they wrap in ``__wrapped__`` (and say whether they are
    active); sd-webui-controlnet's keeps it on the img2img module."""
    layers, function = [], img2img.process_batch
    while True:
        if hasattr(function, "active"):
            layers.append("AnimateDiff" if function.active else "AnimateDiff (stepped aside)")
            function = function.__wrapped__
        elif type(getattr(function, "__self__", None)).__name__ == "BatchHijack":
            layers.append("ControlNet")
            function = getattr(img2img, "__controlnet_original_process_batch")
        else:
            return [*layers, function.__module__ + "." + function.__qualname__]


def _run(request: dict = Body(...)):
    p = processing.StableDiffusionProcessingImg2Img(
        sd_model=shared.sd_model, outpath_samples=shared.opts.outdir_img2img_samples, outpath_grids=shared.opts.outdir_img2img_grids,
        prompt=request.get("prompt", ""), negative_prompt="", seed=request.get("seed", 1), sampler_name="Euler",
        batch_size=1, n_iter=1, steps=request.get("steps", 2), cfg_scale=7.0, width=64, height=64,
        init_images=[None], mask=None, denoising_strength=request.get("denoising_strength", 0.75),
        mask_blur=request.get("mask_blur", 4), inpaint_full_res=request.get("inpaint_full_res", False),
    )
    p.scripts = scripts.scripts_img2img
    p.script_args = args = _args(request)
    with call_queue.queue_lock:
        shared.state.begin(job="img2img batch (test)")
        try:
            processed = img2img.process_batch(p, request["input_dir"], request.get("output_dir", ""), request.get("mask_dir", ""), args)
        except Exception as error:
            return JSONResponse(status_code=422, content={"error": f"{type(error).__name__}: {error}"})
        finally:
            p.close()
            shared.state.end()
    images = processed.images if processed else []
    pngs = [encode_pil_to_base64(image).decode() for image in images]
    return {"images": len(images), "pngs": pngs, "info": processed.js() if processed else "", "layers": _layers()}


script_callbacks.on_app_started(lambda demo, app: app.add_api_route(ROUTE, _run, methods=["POST"]))
