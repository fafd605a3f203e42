"""Test-only extension for SD WebUI Forge (copied into a test WebUI by tests/webui/harness_servers.py).

Forge's ControlNet runs its control network once on a model call's whole batch, before the
UNet, and hands the outputs to the call (``control``), which the UNet adds after its middle
block. At the start of every job this wraps (once) the control network's forward
(``backend.nn.cnets.cldm.ControlNet.forward``) and the UNet's ``apply_control``; each appends a
JSON line to <data>/forge_control.jsonl:
  {"kind": "controlnet", "rows": R, "hint_means": [each hint row's mean], "middle": [each row's middle-output mean]}
  {"kind": "unet", "rows": R, "middle": [each row's mean of the middle control it adds] or null}
A row's middle-output mean tells which row of the control network's call the UNet's row took
its control from. The lines only ever grow: a test counts them before and after its request.
"""

import json
import os
import threading

from modules import paths, scripts

LOG_NAME = "forge_control.jsonl"  # in the WebUI's data folder
LOG = os.path.join(paths.data_path, LOG_NAME)
ORIGINAL = "_record_forge_control_original"
_lock = threading.Lock()


def _means(tensor):
    return [round(float(row.float().mean()), 6) for row in tensor]


def _write(line):
    with _lock, open(LOG, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(line) + "\n")


def _wrap_control_network():
    from backend.nn.cnets import cldm

    if ORIGINAL in cldm.ControlNet.__dict__:
        return
    original = cldm.ControlNet.forward

    def forward(self, x, hint, timesteps, context, y=None, **kwargs):
        outs = original(self, x, hint, timesteps, context, y=y, **kwargs)
        _write({"kind": "controlnet", "rows": int(x.shape[0]), "hint_means": _means(hint), "middle": _means(outs[-1])})
        return outs

    setattr(cldm.ControlNet, ORIGINAL, original)
    cldm.ControlNet.forward = forward


def _wrap_apply_control():
    from backend.nn import unet

    if getattr(unet.apply_control, ORIGINAL, False):
        return
    original = unet.apply_control

    def apply_control(h, control, name):
        if name == "middle":
            added = control.get("middle") if control is not None else None
            last = added[-1] if added else None
            _write({"kind": "unet", "rows": int(h.shape[0]), "middle": None if last is None else _means(last)})
        return original(h, control, name)

    setattr(apply_control, ORIGINAL, True)
    unet.apply_control = apply_control  # the UNet's forward looks it up in its module at each call


class RecordForgeControl(scripts.Script):
    def title(self):
        return "record Forge control (test)"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def before_process(self, p, *args):
        _wrap_control_network()
        _wrap_apply_control()
