"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py).

A job whose prompt contains RAISE_IN_SAMPLING fails at sampling step 1 with
RuntimeError("raise-in-sampling test"). A1111 swallows (logs) exceptions raised inside
cfg_denoiser callbacks themselves, so the callback arms a one-shot forward pre-hook on the
UNet: the error is raised from the next UNet call of that step, inside the sampler (and
inside whatever an extension wrapped around the model), and reaches the request.
"""

from modules import script_callbacks

MARKER = "RAISE_IN_SAMPLING"
MESSAGE = "raise-in-sampling test"
_handles = []



def _unet(model):
    """The UNet: A1111's ldm/sgm model's, or Forge's patcher's."""
    return model.forge_objects.unet.model.diffusion_model if hasattr(model, "forge_objects") else model.model.diffusion_model

def _disarm():
    while _handles:
        _handles.pop().remove()


def _raise(module, args):
    _disarm()
    print("raise_in_sampling: raising now", flush=True)
    raise RuntimeError(MESSAGE)


def _on_cfg_denoiser(params):
    _disarm()  # never leave a hook armed past the step it was meant for
    denoiser = params.denoiser
    p = getattr(denoiser, "p", None)
    prompt = getattr(p, "prompt", "") or ""
    if isinstance(prompt, (list, tuple)):
        prompt = " ".join(prompt)
    step = getattr(denoiser, "step", params.sampling_step)
    if MARKER in prompt and step == 1:
        print("raise_in_sampling: armed at sampling step 1", flush=True)
        _handles.append(_unet(p.sd_model).register_forward_pre_hook(_raise))


script_callbacks.on_cfg_denoiser(_on_cfg_denoiser, name="raise_in_sampling")
