"""Interp X through sd-webui-deforum's FILM entry point, in a WebUI with Deforum installed.

FILM's weights cannot be downloaded here, so the model file is a TorchScript stand-in with
FILM's interface (two frames and a time in, the frame between out: here a cross-fade).
Deforum's ``run_film_interp_infer`` moves the model to CUDA unconditionally, so on a machine
without a GPU it fails there and the job must fall back to the built-in interpolator; on a
GPU machine it must run Deforum's FILM itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from webui_api import WebUIServer, animatediff, describe, run_job, txt2img_payload



class CrossFade(torch.nn.Module):
    def forward(self, x0: torch.Tensor, x1: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        t = dt.view(-1, 1, 1, 1)
        return x0 * (1 - t) + x1 * t


def _install_film_model(server: WebUIServer) -> Path:
    folder = Path(server.data_dir) / "models" / "Deforum" / "film_interpolation"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "film_net_fp16.pt"
    torch.jit.save(torch.jit.script(CrossFade()), str(path))
    return path


def test_interp_x_goes_through_deforum_film_and_falls_back_where_it_cannot_run(deforum_server: WebUIServer) -> None:
    _install_film_model(deforum_server)
    job = run_job(deforum_server, "txt2img", txt2img_payload(alwayson_scripts=animatediff(interp="FILM", interp_x=2, fps=8)))
    assert job.response.ok and len(job.frames) == 8 and len(job.gifs) == 1, describe(job, deforum_server)
    with Image.open(job.gifs[0]) as gif:
        assert gif.n_frames == 15
    log = deforum_server.log_text()
    if torch.cuda.is_available():
        assert "interpolated 8 → 15 frames with FILM (sd-webui-deforum)" in log, deforum_server.log_tail(80)
    else:
        # Deforum's FILM was found and called, failed at its CUDA call, and the built-in took over
        assert "FILM (sd-webui-deforum) failed" in log, deforum_server.log_tail(80)
        assert "interpolated 8 → 15 frames with optical flow (built-in)" in log, deforum_server.log_tail(80)
