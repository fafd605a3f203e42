"""Time and peak memory of denoising one long video with each context schedule.

    python bench/context_schedules.py [--frames 64] [--context 16] [--size 32] [--steps 2]
        [--device cpu|cuda] [--dtype float32|float16|bfloat16] [--channels 64,128,128,128]

uniform (overlapping windows that shift every step), static (the same windows every step),
batched (windows that do not overlap) and views (the UNet on every frame at once, the motion
modules in uniform windows). Each schedule runs in a fresh process (one thread on the CPU).
Memory: on the CPU the growth of the process's peak resident size over its size just before
sampling, on CUDA the peak of allocated memory over what was allocated before (the model
itself is not counted either way). A random SD 1.5-shaped UNet (small channels by default;
``--channels 320,640,1280,1280`` is SD 1.5's own) and v2 motion modules; cond and uncond as
one batch; Euler steps; the UNet's attention through scaled_dot_product_attention and half
precision through autocast, as A1111 runs on a GPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("uniform", "static", "batched", "views")


def use_sdp_attention() -> None:
    """The UNet's attention through torch's scaled_dot_product_attention, as A1111's default
    optimization runs it (ldm's own builds the whole attention matrix: ~100 GiB at 64×64)."""
    import torch.nn.functional as F
    from einops import rearrange
    from ldm.modules.attention import CrossAttention

    def forward(self, x, context=None, mask=None):
        context = x if context is None else context
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in (self.to_q(x), self.to_k(context), self.to_v(context)))
        return self.to_out(rearrange(F.scaled_dot_product_attention(q, k, v), "b h n d -> b n (h d)"))

    CrossAttention.forward = forward


def bench_models(args: argparse.Namespace):
    """(device, dtype, UNet, v2 motion modules) for ``args``' device, dtype and channels; the UNet's
    attention through SDPA; one thread on the CPU."""
    import torch

    from lib_animatediff.devtools.random_weights import random_motion_modules
    from lib_animatediff.devtools.tiny_unet import build_unet
    from lib_animatediff.model.families import V2

    use_sdp_attention()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    cuda = device.type == "cuda"
    if not cuda:
        torch.set_num_threads(1)
    channels = tuple(int(c) for c in args.channels.split(","))
    # A1111 keeps a GPU's UNet in half precision; on the CPU, group_norm refuses half weights
    # with float input, so there the weights stay float32 and autocast alone lowers the math
    unet = build_unet(V2.base, channels, seed=0).to(device, dtype if cuda else torch.float32)
    return device, dtype, unet, random_motion_modules(V2, channels, seed=0)


def seconds_and_peak(denoise, device, dtype) -> tuple[float, float]:
    """Seconds of one ``denoise()`` under autocast in ``dtype``, and the peak memory growth in
    MiB (CUDA: after a warm-up pass, allocated memory; CPU: the process's peak resident size)."""
    import torch

    cuda = device.type == "cuda"

    def run() -> None:
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            denoise()
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        run()  # kernels chosen and memory pools built before timing
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    after = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return seconds, (after - before) / 2**20


def measure(kind: str, args: argparse.Namespace) -> dict:
    from lib_animatediff.devtools.demo import denoise_video
    from lib_animatediff.sampling.context import ContextSchedule

    device, dtype, unet, modules = bench_models(args)
    overlap = 0 if kind == "batched" else -1
    schedule = ContextSchedule(context=args.context, overlap=overlap, kind=kind)
    windows = sum(len(schedule.windows(args.frames, step)) for step in range(args.steps))
    seconds, growth = seconds_and_peak(
        lambda: denoise_video(modules, frames=args.frames, steps=args.steps, latent_size=(args.size, args.size), schedule=schedule,
                              unet=unet, device=device),
        device, dtype,
    )  # fmt: skip
    return {"kind": kind, "seconds": seconds, "growth_mib": growth, "windows": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--context", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="latent height and width")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--channels", default="64,128,128,128", help="the UNet's channels per level")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args)))
        return
    rows = []
    for kind in KINDS:
        command = [sys.executable, __file__, *sys.argv[1:], "--child", kind]
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]))
    where = "CPU, 1 thread" if args.device == "cpu" else args.device
    if args.device.startswith("cuda"):
        import torch

        where = torch.cuda.get_device_name(args.device)
    print(f"{args.frames} frames, context {args.context}, latent {args.size}×{args.size}, channels {args.channels}, cond+uncond, "
          f"{args.steps} Euler steps, {args.dtype}, {where}")  # fmt: skip
    print("| schedule | windows, all steps | seconds | peak growth MiB |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['kind']} | {row['windows']} | {row['seconds']:.1f} | {row['growth_mib']:.1f} |")


if __name__ == "__main__":
    main()
