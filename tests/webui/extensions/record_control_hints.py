"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py).

At the start of every job it wraps (once) the forward of sd-webui-controlnet's ControlNet
model class (scripts/cldm.py); from then on every call of a ControlNet's forward appends one
JSON line to <data>/control_hints.jsonl, with what the control model received:
  {"rows": <rows of x>, "hint_rows": <rows of the hint>, "hint_means": [<mean of each hint row, 4 decimals>]}
The lines only ever grow: a test counts them before and after its request.
"""

import json
import os
import sys
import threading

from modules import paths, scripts

LOG_NAME = "control_hints.jsonl"  # in the WebUI's data folder
LOG = os.path.join(paths.data_path, LOG_NAME)
ORIGINAL = "_record_control_hints_original"
_lock = threading.Lock()


def _record(x, hint):
    line = dict(rows=int(x.shape[0]), hint_rows=0, hint_means=[])
    if hint is not None:
        line["hint_rows"] = int(hint.shape[0])
        line["hint_means"] = [round(float(row.float().mean()), 4) for row in hint]
    with _lock, open(LOG, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(line) + "\n")


def _controlnet_classes():
    """ControlNet classes of every loaded copy of sd-webui-controlnet's scripts/cldm.py."""
    found = []
    for name, module in list(sys.modules.items()):
        path = (getattr(module, "__file__", None) or "").replace(os.sep, "/")
        if name in ("scripts.cldm", "cldm") or path.endswith("/scripts/cldm.py"):
            cls = getattr(module, "ControlNet", None)
            if isinstance(cls, type) and cls not in found:
                found.append(cls)
    return found


def _wrap(cls):
    if ORIGINAL in cls.__dict__:
        return
    original = cls.forward

    def forward(self, x, hint, timesteps, context, *args, **kwargs):
        _record(x, hint)
        return original(self, x, hint, timesteps, context, *args, **kwargs)

    setattr(cls, ORIGINAL, original)
    cls.forward = forward
    print(f"record_control_hints: recording {cls.__module__}.{cls.__qualname__}.forward", flush=True)


class RecordControlHints(scripts.Script):
    def title(self):
        return "record control hints (test)"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def before_process(self, p, *args):
        classes = _controlnet_classes()
        if not classes:
            print("record_control_hints: no ControlNet class loaded (scripts/cldm.py)", flush=True)
        for cls in classes:
            _wrap(cls)
