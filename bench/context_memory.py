"""Peak memory of denoising 64 frames against 16 frames with context windows (CPU).

    python bench/context_memory.py [--frames 16 64] [--context 16] [--size 32]

Each frame count runs in a fresh process; the figure is the growth of the process's peak
resident memory over its size just before sampling (so the model itself is not counted).
Target: 64 frames at most 1.25× the peak of 16 frames.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(frames: int, context: int, size: int) -> dict:
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
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.no_grad():
        denoise_video(modules, frames=frames, steps=2, latent_size=(size, size), schedule=ContextSchedule(context=context), unet=unet)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"frames": frames, "growth_mib": (after - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--context", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="latent height and width")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.context, args.size)))
        return
    rows = []
    for frames in args.frames:
        command = [sys.executable, __file__, "--child", str(frames), "--context", str(args.context), "--size", str(args.size)]
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]))
    base = rows[0]["growth_mib"]
    print(f"context {args.context}, latent {args.size}×{args.size}, cond+uncond, 2 Euler steps, CPU")
    print("| frames | peak growth MiB | ratio to first |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['frames']} | {row['growth_mib']:.1f} | {row['growth_mib'] / base:.2f} |")


if __name__ == "__main__":
    main()
