"""Test-only extension (copied into each test WebUI by tests/webui/conftest.py): lets a float16 WebUI run on a CPU
the way it runs on a GPU.

- A1111's autocast() asks CUDA about the device (cuda_no_autocast) and then enters CUDA's
  autocast; on this CPU host the first fails and the second would do nothing. Here a float16
  WebUI on the CPU enters the CPU's autocast in float16 instead: what torch.autocast("cuda")
  does on a GPU.
- ldm's GroupNorm32 hands group_norm float32 input with float16 weights; CUDA's kernel takes
  that, the CPU's refuses it ("mixed dtype (CPU)"). On the CPU, group_norm's weight and bias
  follow the input's dtype, which is what CUDA computes.
"""

import torch
import torch.nn.functional as F

from modules import devices

_autocast = devices.autocast


def autocast(disable=False):
    if not disable and devices.device.type == "cpu" and devices.dtype == torch.float16 and not devices.fp8 and not devices.force_fp16:
        return torch.autocast("cpu", dtype=torch.float16)
    return _autocast(disable)


devices.autocast = autocast

_group_norm = F.group_norm


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    if input.device.type == "cpu":
        weight = None if weight is None else weight.to(input.dtype)
        bias = None if bias is None else bias.to(input.dtype)
    return _group_norm(input, num_groups, weight, bias, eps)


F.group_norm = group_norm
