"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py).

A job whose prompt contains INTERRUPT_IN_ITERATION_<n> (SKIP_IN_ITERATION_<n>) is interrupted
(skipped) at sampling step 1 of its batch-count iteration n (counted from 1), as the Interrupt
(Skip) button would do it then; with RAISE_IN_ITERATION_<n> the UNet raises there, as a fault
(out of memory, say) would.
"""

import re

from modules import script_callbacks, shared

PATTERN = re.compile(r"(INTERRUPT|SKIP|RAISE)_IN_ITERATION_(\d+)")
_handles = []



def _unet(model):
    """The UNet: A1111's ldm/sgm model's, or Forge's patcher's."""
    return model.forge_objects.unet.model.diffusion_model if hasattr(model, "forge_objects") else model.model.diffusion_model

def _raise(module, args):
    while _handles:
        _handles.pop().remove()
    raise RuntimeError("stop_in_iteration: a fault in sampling")


def _on_cfg_denoiser(params):
    p = getattr(params.denoiser, "p", None)
    prompt = getattr(p, "prompt", "") or ""
    match = PATTERN.search(" ".join(prompt) if isinstance(prompt, (list, tuple)) else prompt)
    if match and p.iteration + 1 == int(match.group(2)) and params.denoiser.step == 1:
        kind = match.group(1)
        print(f"stop_in_iteration: {kind.lower()} in iteration {match.group(2)}", flush=True)
        if kind == "RAISE":
            _handles.append(_unet(p.sd_model).register_forward_pre_hook(_raise))
        else:
            shared.state.interrupt() if kind == "INTERRUPT" else shared.state.skip()


script_callbacks.on_cfg_denoiser(_on_cfg_denoiser, name="stop_in_iteration")
