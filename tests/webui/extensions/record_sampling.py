"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py): records what the sampler sees.

Every job that reaches its end (postprocess) leaves one file <data>/sampler_records/<number>.pt,
``torch.save`` of its events in the order they happened (tensors on the CPU, float32):
  {"kind": "denoiser", "step", "sigma", "x", "denoiser", "table", "alphas_cumprod", "hr",
   "checkpoint", "weights", "motion_modules"}:
      a CFG denoiser call as A1111 made it, before any other extension's callback changed it:
      the noise level of each row (sigma, or the timestep for DDIM-like samplers) and the
      latents; the denoiser's class, the table the sampler copied when it was built
      (("sigmas", k-diffusion and LCM), ("alphas", timestep samplers)) and the model's live
      alphas_cumprod; whether it is Hires. fix's pass, the loaded checkpoint's file name, the
      sums of a few UNet weights by state-dict key (WEIGHT_KEYS: the UNet the call runs with)
      and how many motion modules run in that UNet; on Forge, "memory_manager": the classes of the
      models its memory manager holds loaded ("loaded"), of the UNet patcher's extra models for
      sampling ("extras"), and how many rows the model's memory estimate for this call's latents
      counts ("estimate_rows"), None on A1111;
  {"kind": "denoised", "step", "x"}: the latents after CFG (on_cfg_after_cfg);
  {"kind": "rng", "first", "noise"}: a draw of A1111's ImageRNG (the seed's noise, then more);
  {"kind": "sampler_noise", "noise"}: a draw the sampler made through p.rng (A1111's TorchHijack):
      the per-step noise of ancestral samplers;
  {"kind": "unet", "rows", "timesteps", "context"}: a call of the UNet itself (rows of x, distinct
      timesteps, and each row's text conditioning as one number, its values weighted by a fixed
      ramp: rows with the same prompt alike, other prompts not).
"""

import os

import torch
from modules import paths, rng, script_callbacks, scripts, sd_samplers_common

FOLDER_NAME = "sampler_records"  # in the WebUI's data folder
FOLDER = os.path.join(paths.data_path, FOLDER_NAME)
STATE = {"events": None, "hooks": {}}  # hooks: the UNets whose calls are recorded, by id



def _alphas_cumprod(model):
    """The model's live schedule: A1111's attribute, or what Forge's predictor's sigmas mean."""
    if hasattr(model, "forge_objects"):
        return 1.0 / (model.forge_objects.unet.model.predictor.sigmas.double() ** 2 + 1.0)
    return model.alphas_cumprod


def _unet(model):
    """The UNet: A1111's ldm/sgm model's, or Forge's patcher's."""
    return model.forge_objects.unet.model.diffusion_model if hasattr(model, "forge_objects") else model.model.diffusion_model

def _cpu(tensor):
    return tensor.detach().float().cpu().clone()


def _log(event):
    if STATE["events"] is not None:
        STATE["events"].append(event)


def _wrap_once(owner, name, make):
    if not getattr(owner, "_recorded_" + name, False):
        setattr(owner, name, make(getattr(owner, name)))
        setattr(owner, "_recorded_" + name, True)


def _image_rng_next(original):
    def next_(self):
        first = self.is_first
        noise = original(self)
        _log({"kind": "rng", "first": first, "noise": _cpu(noise)})
        return noise
    return next_


def _hijack_randn_like(original):
    def randn_like(self, x):
        noise = original(self, x)
        _log({"kind": "sampler_noise", "noise": _cpu(noise)})
        return noise
    return randn_like


_wrap_once(rng.ImageRNG, "next", _image_rng_next)
_wrap_once(sd_samplers_common.TorchHijack, "randn_like", _hijack_randn_like)


def _table(denoiser):
    """The table the sampler steps with: A1111's timestep samplers' copy of the alphas, the
    sigmas of a k-diffusion wrapper, or the alphas Forge's timestep samplers read off the model
    (set from its predictor's sigmas when the sampler was built)."""
    if hasattr(denoiser, "alphas"):
        return ("alphas", _cpu(denoiser.alphas))
    inner = denoiser.inner_model
    if hasattr(inner, "sigmas"):
        return ("sigmas", _cpu(inner.sigmas))
    if type(inner).__name__ == "CompVisTimestepsDenoiser" and hasattr(inner.inner_model, "alphas_cumprod"):
        return ("alphas", _cpu(inner.inner_model.alphas_cumprod))
    return None


# an input block, the middle block's last ResBlock and an Upsample (whose list positions the
# motion modules sit beside), the output conv
WEIGHT_KEYS = (
    "input_blocks.1.0.in_layers.2.weight", "middle_block.2.out_layers.3.weight", "output_blocks.2.1.conv.weight", "out.2.weight",
)


def _motion_modules(unet):
    hooked = sum(
        type(getattr(hook, "transform", None)).__name__ == "HookedMotionModule"
        for module in unet.modules() for hook in (*module._forward_pre_hooks.values(), *module._forward_hooks.values())
    )
    return hooked + sum(type(module).__name__ == "SplicedMotionModule" for module in unet.modules())


def _memory_manager(model, shape):
    if not hasattr(model, "forge_objects"):
        return None
    from backend import memory_management

    k_model = model.forge_objects.unet.model
    per_row = type(k_model).memory_required(k_model, [1, *shape[1:]])  # Forge's estimate grows with the rows
    return {
        "loaded": [type(loaded.model.model).__name__ for loaded in memory_management.current_loaded_models],
        "extras": [type(extra.model).__name__ for extra in model.forge_objects.unet.extra_model_patchers_during_sampling],
        "estimate_rows": round(k_model.memory_required(shape) / per_row),
    }


def _record_calls_of(unet):
    """The UNet's calls recorded from now on: the job's model, or one loaded mid-job (Forge builds
    a new model for Hires. fix's checkpoint and the refiner; before its first job it has none)."""
    if id(unet) not in STATE["hooks"]:
        STATE["hooks"][id(unet)] = unet.register_forward_pre_hook(_on_unet, with_kwargs=True)


def _on_denoiser(params):
    denoiser = params.denoiser
    model = denoiser.p.sd_model
    unet = _unet(model)
    if STATE["events"] is not None:
        _record_calls_of(unet)
    state = unet.state_dict()
    _log({
        "kind": "denoiser", "step": int(denoiser.step), "sigma": _cpu(params.sigma), "x": _cpu(params.x),
        "denoiser": type(denoiser).__name__, "table": _table(denoiser), "alphas_cumprod": _cpu(_alphas_cumprod(model)),
        "hr": bool(getattr(denoiser.p, "is_hr_pass", False)), "checkpoint": os.path.basename(model.sd_checkpoint_info.filename),
        "weights": {key: float(state[key].double().sum()) if key in state else None for key in WEIGHT_KEYS},
        "motion_modules": _motion_modules(unet), "memory_manager": _memory_manager(model, list(params.x.shape)),
    })


def _on_after_cfg(params):
    _log({"kind": "denoised", "step": int(params.sampling_step), "x": _cpu(params.x)})


def _on_unet(module, args, kwargs):
    x = args[0] if args else kwargs["x"]
    timesteps = args[1] if len(args) > 1 else kwargs.get("timesteps")  # sgm's UNet takes keywords
    seen = sorted({int(t) for t in timesteps.flatten().tolist()}) if timesteps is not None else []
    context = args[2] if len(args) > 2 else kwargs.get("context")
    _log({"kind": "unet", "rows": int(x.shape[0]), "timesteps": seen, "context": _signature(context)})


def _signature(context):
    """Each row of the text conditioning as one number: its values weighted by a fixed ramp. (A
    plain sum is the same for every prompt: CLIP's last LayerNorm makes each token's features
    zero-mean, so a row sums to its bias's sum times the tokens.)"""
    if not isinstance(context, torch.Tensor):
        return None
    rows = context.detach().flatten(1).double().cpu()
    return (rows * torch.linspace(-1.0, 1.0, rows.shape[1], dtype=torch.float64)).sum(1).tolist()


script_callbacks.on_cfg_denoiser(_on_denoiser, name="record_sampling")
script_callbacks.on_cfg_after_cfg(_on_after_cfg, name="record_sampling")


def _remove_hooks():
    for hook in STATE["hooks"].values():
        hook.remove()
    STATE["hooks"] = {}


class RecordSampling(scripts.Script):
    def title(self):
        return "record sampling (test)"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def before_process(self, p, *args):
        _remove_hooks()
        STATE["events"] = []

    def postprocess(self, p, processed, *args):
        events, STATE["events"] = STATE["events"], None
        _remove_hooks()
        if events is None:
            return
        os.makedirs(FOLDER, exist_ok=True)
        torch.save(events, os.path.join(FOLDER, f"{len(os.listdir(FOLDER)):05d}.pt"))
