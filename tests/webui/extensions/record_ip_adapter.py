"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py).

At the start of every job it wraps (once) sd-webui-controlnet's IP-Adapter attention
(PlugableIPAdapter._attn_eval_ipadapter in scripts/ipadapter/plugable_ipadapter.py); every call
then appends one JSON line to <data>/ip_adapter_calls.jsonl, with what the adapter's attention got:
  {"rows": <rows of the hidden states>, "marks": [<ControlNet's cond mark of each row: 1 cond, 0 uncond>],
    "k_means": [<mean of each row of the adapter's keys, 5 decimals>]}
"""

import json
import os
import sys
import threading

from modules import paths, scripts

LOG_NAME = "ip_adapter_calls.jsonl"  # in the WebUI's data folder
LOG = os.path.join(paths.data_path, LOG_NAME)
ORIGINAL = "_record_ip_adapter_original"
_lock = threading.Lock()


def _plugable_modules():
    return [module for name, module in list(sys.modules.items())
            if (getattr(module, "__file__", None) or "").replace(os.sep, "/").endswith("/scripts/ipadapter/plugable_ipadapter.py")]


def _wrap(module):
    cls = getattr(module, "PlugableIPAdapter", None)
    if not isinstance(cls, type) or ORIGINAL in cls.__dict__:
        return
    original = cls._attn_eval_ipadapter

    def attn_eval(self, hidden_states, query, cond_uncond_image_emb, attn_heads, head_dim, emb_to_k, emb_to_v):
        keys = emb_to_k(cond_uncond_image_emb)
        marks = module.current_model.cond_mark[:, 0, 0, 0].tolist()
        line = dict(rows=int(hidden_states.shape[0]), marks=[round(float(mark)) for mark in marks],
                    k_means=[round(float(row.float().mean()), 5) for row in keys])
        with _lock, open(LOG, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(line) + "\n")
        return original(self, hidden_states, query, cond_uncond_image_emb, attn_heads, head_dim, emb_to_k, emb_to_v)

    setattr(cls, ORIGINAL, original)
    cls._attn_eval_ipadapter = attn_eval
    print(f"record_ip_adapter: recording {module.__name__}.PlugableIPAdapter", flush=True)


class RecordIPAdapter(scripts.Script):
    def title(self):
        return "record IP-Adapter (test)"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def before_process(self, p, *args):
        for module in _plugable_modules():
            _wrap(module)
