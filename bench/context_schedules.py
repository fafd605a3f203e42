"""Time and peak memory of denoising one long video with each context schedule (CPU).

    python bench/context_schedules.py [--frames 64] [--context 16] [--size 32] [--steps 2]

uniform (overlapping windows that shift every step), static (the same windows every step),
batched (windows that do not overlap) and views (the UNet on every frame at once, the motion
modules in uniform windows). Each schedule runs in a fresh process with one thread; memory is
the growth of the process's peak resident size over its size just before sampling (the model
itself is not counted). The same small random SD 1.5-shaped UNet and v2 motion modules as
bench/context_memory.py; cond and uncond as one batch; two Euler steps.
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


def measure(kind: str, frames: int, context: int, size: int, steps: int) -> dict:
    import torch

    from lib_animatediff.devtools.demo import denoise_video
    from lib_animatediff.devtools.random_weights import random_motion_modules
    from lib_animatediff.devtools.tiny_unet import build_unet
    from lib_animatediff.model.families import V2
    from lib_animatediff.sampling.context import ContextSchedule

    torch.set_num_threads(1)
    channels = (64, 128, 128, 128)
    modules = random_motion_modules(V2, channels, seed=0)
    unet = build_unet(V2.base, channels, seed=0)
    overlap = 0 if kind == "batched" else -1
    schedule = ContextSchedule(context=context, overlap=overlap, kind=kind)
    windows = len(schedule.windows(frames, 0))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with torch.no_grad():
        denoise_video(modules, frames=frames, steps=steps, latent_size=(size, size), schedule=schedule, unet=unet)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "seconds": seconds, "growth_mib": (after - before) / 1024, "windows": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--context", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="latent height and width")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.frames, args.context, args.size, args.steps)))
        return
    rows = []
    for kind in KINDS:
        command = [sys.executable, __file__, "--child", kind, "--frames", str(args.frames), "--context", str(args.context),
                   "--size", str(args.size), "--steps", str(args.steps)]  # fmt: skip
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]))
    print(f"{args.frames} frames, context {args.context}, latent {args.size}×{args.size}, cond+uncond, {args.steps} Euler steps, CPU, 1 thread")
    print("| schedule | windows (step 0) | seconds | peak growth MiB |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['kind']} | {row['windows']} | {row['seconds']:.1f} | {row['growth_mib']:.1f} |")


if __name__ == "__main__":
    main()
