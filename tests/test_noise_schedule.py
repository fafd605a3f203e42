"""The motion module's noise schedule in the model, with the WebUI's overrides on top, undone exactly."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from lib_animatediff.model.families import SD15_ANIMATEDIFF_SCHEDULE, SDXL_STANDARD_SCHEDULE
from lib_animatediff.model.noise_schedule import use_noise_schedule
from lib_animatediff.undo import UndoStack

CHECKPOINT = SDXL_STANDARD_SCHEDULE.alphas_cumprod()  # scaled-linear 0.00085 → 0.012, as SD 1.5 checkpoints
MODULE = SD15_ANIMATEDIFF_SCHEDULE.alphas_cumprod()  # linear 0.00085 → 0.012


def a1111_model() -> SimpleNamespace:
    """Like A1111's sd_model: the checkpoint's schedule kept as the original, the working one derived."""
    return SimpleNamespace(alphas_cumprod=CHECKPOINT.clone(), alphas_cumprod_original=CHECKPOINT.clone())


def halve_last(model: SimpleNamespace) -> None:
    """Stands in for apply_alpha_schedule_override: the working schedule from the original, changed."""
    model.alphas_cumprod = model.alphas_cumprod_original.clone()
    model.alphas_cumprod[-1] /= 2


def test_the_original_is_replaced_and_the_overrides_apply_on_top():
    model = a1111_model()
    before = model.alphas_cumprod
    with UndoStack() as undo:
        use_noise_schedule(undo, model, MODULE.double(), lambda: halve_last(model))
        assert torch.equal(model.alphas_cumprod_original, MODULE) and model.alphas_cumprod_original.dtype == torch.float32
        assert torch.equal(model.alphas_cumprod[:-1], MODULE[:-1]) and model.alphas_cumprod[-1] == MODULE[-1] / 2
        halve_last(model)  # A1111 derives the working schedule again before sampling: still the module's
        assert torch.equal(model.alphas_cumprod[:-1], MODULE[:-1])
    assert model.alphas_cumprod is before and torch.equal(model.alphas_cumprod_original, CHECKPOINT)


def test_without_overrides_or_an_original_the_schedule_is_set_as_it_is():
    model = a1111_model()
    with UndoStack() as undo:
        use_noise_schedule(undo, model, MODULE)
        assert torch.equal(model.alphas_cumprod, MODULE) and torch.equal(model.alphas_cumprod_original, MODULE)
    assert torch.equal(model.alphas_cumprod, CHECKPOINT)

    class Diffusion(nn.Module):  # ldm keeps alphas_cumprod as a buffer
        def __init__(self):
            super().__init__()
            self.register_buffer("alphas_cumprod", CHECKPOINT.clone())

    plain = Diffusion()
    with UndoStack() as undo:
        use_noise_schedule(undo, plain, MODULE)
        assert torch.equal(plain.alphas_cumprod, MODULE) and "alphas_cumprod" in plain._buffers
    assert torch.equal(plain.alphas_cumprod, CHECKPOINT) and not hasattr(plain, "alphas_cumprod_original")
