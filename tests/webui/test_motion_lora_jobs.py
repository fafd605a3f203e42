"""Motion LoRAs in a real WebUI: through A1111's built-in Lora extension, or merged into the motion modules on Forge.

The LoRA files are made here with random weights: a motion LoRA for the full-size v2
module in the published (guoyww) naming, the same tensors repacked in kohya naming, one
whose channels fit no SD 1.5 module, and a spatial LoRA for the UNet's self-attention.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from webui_api import (
    MOTION_LORA_RANK,
    WebUIServer,
    animatediff,
    assert_animation,
    describe,
    guoyww_motion_lora,
    mean_abs_diff,
    run_job,
    txt2img_payload,
)

RANK = MOTION_LORA_RANK
PROMPT = "a red ball bouncing on a wooden floor"


def _kohya_named(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, tensor in tensors.items():
        layer, proj_half = key.split(".processor.")
        proj, half = proj_half.split("_lora.")
        stem = "lora_unet_" + layer.replace(".", "_") + "_" + ("to_out_0" if proj == "to_out" else proj)
        renamed[f"{stem}.lora_{half}"] = tensor.clone()
    return renamed


def _spatial_lora(seed: int = 5) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for block, c in ((0, 320), (1, 640), (2, 1280)):
        for attention in range(2):
            for proj in ("to_q", "to_k", "to_v", "to_out_0"):
                stem = f"lora_unet_down_blocks_{block}_attentions_{attention}_transformer_blocks_0_attn1_{proj}"
                tensors[f"{stem}.lora_down.weight"] = torch.randn(RANK, c, generator=generator) / c**0.5
                tensors[f"{stem}.lora_up.weight"] = torch.randn(c, RANK, generator=generator)
                tensors[f"{stem}.alpha"] = torch.tensor(float(RANK))
    return tensors


@pytest.fixture(scope="module")
def loras(server: WebUIServer) -> WebUIServer:
    """The LoRA files, in the server's Lora folder (the extension looks names up on use)."""
    folder = Path(server.data_dir) / "models" / "Lora"
    folder.mkdir(parents=True, exist_ok=True)
    motion = guoyww_motion_lora()
    save_file(motion, str(folder / "mlora_zoom.safetensors"))
    save_file(_kohya_named(motion), str(folder / "mlora_zoom_repacked.safetensors"))
    save_file(guoyww_motion_lora(channels_of=lambda c: c // 5), str(folder / "mlora_misfit.safetensors"))
    save_file(_spatial_lora(), str(folder / "spatial_style.safetensors"))
    return server


def _animation(server: WebUIServer, prompt: str) -> list[np.ndarray]:
    job = run_job(server, "txt2img", txt2img_payload(prompt=prompt, alwayson_scripts=animatediff()))
    assert_animation(job, server, frames=8)
    return job.frames


def _largest_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(mean_abs_diff(x, y) for x, y in zip(a, b))


def test_motion_lora_changes_the_animation_and_is_undone_after_the_job(loras: WebUIServer) -> None:
    plain = _animation(loras, PROMPT)
    zoom = _animation(loras, f"{PROMPT} <lora:mlora_zoom:1>")
    assert _largest_difference(zoom, plain) > 1.0, "the motion LoRA did not change the frames"
    assert "motion LoRA mlora_zoom at strength 1.0" in loras.log_text()
    again = _animation(loras, PROMPT)
    assert _largest_difference(again, plain) == 0.0, "the motion module kept the LoRA's weights after the job"

    repacked = _animation(loras, f"{PROMPT} <lora:mlora_zoom_repacked:1>")
    assert _largest_difference(repacked, zoom) <= 1.0, "kohya-named tensors act unlike the same tensors in guoyww naming"
    half = _animation(loras, f"{PROMPT} <lora:mlora_zoom:0.5>")
    assert _largest_difference(half, zoom) > 0.5 and _largest_difference(half, plain) > 0.5, "the strength is not applied"


def test_misfit_motion_lora_is_a_clear_error_and_the_webui_keeps_serving(loras: WebUIServer) -> None:
    job = run_job(loras, "txt2img", txt2img_payload(prompt=f"{PROMPT} <lora:mlora_misfit:1>", alwayson_scripts=animatediff()))
    assert job.response.status >= 400 and not job.gifs, describe(job, loras)
    message = str(job.response.body)  # unescaped: the text has "×" as \u00d7
    assert "mlora_misfit.safetensors" in message and "64×64" in message and "320×320" in message, message[:800]
    plain = _animation(loras, PROMPT)
    assert len(plain) == 8


def test_a_spatial_lora_keeps_working_beside_a_motion_lora(loras: WebUIServer) -> None:
    def still(prompt: str) -> np.ndarray:
        answer = loras.post("/sdapi/v1/txt2img", txt2img_payload(prompt=prompt))
        assert answer.ok, answer.text[:800]
        return answer.images()[0]

    styled_before = still(f"{PROMPT} <lora:spatial_style:1>")
    assert mean_abs_diff(styled_before, still(PROMPT)) > 1.0, "the spatial test LoRA changes nothing even alone"
    motion_only = _animation(loras, f"{PROMPT} <lora:mlora_zoom:1>")
    both = _animation(loras, f"{PROMPT} <lora:mlora_zoom:1> <lora:spatial_style:1>")
    assert _largest_difference(both, motion_only) > 1.0, "the spatial LoRA was lost beside the motion LoRA"
    assert np.array_equal(still(f"{PROMPT} <lora:spatial_style:1>"), styled_before), "the spatial LoRA acts differently after the jobs"
