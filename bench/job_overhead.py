"""A 16-frame AnimateDiff job against a plain batch of 16 images in a running WebUI, over its
API: same size, sampler and seed. Each runs at one step and at --steps, so its time splits
into seconds per step (the UNet's sampling) and fixed seconds (text encoding, VAE decoding,
saving, and everything else a job does once); the per-step ratio is then set against the ratio
of the FLOPs of one model call with and without the motion modules, which torch counts on an
SD 1.5-shaped UNet (ldm, on the meta device: nothing is computed).

    python bench/job_overhead.py --url http://127.0.0.1:7860 --model mm_sd15_v2.safetensors
        [--frames 16] [--size 64] [--steps 6] [--repeats 3]

Each job runs once to warm up (a new batch shape costs extra the first time), then --repeats
times; the tables give medians. The WebUI must have been started with --api.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def post(url: str, payload: dict) -> None:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=3600) as answer:
        body = json.load(answer)
    if not body.get("images"):
        raise RuntimeError(f"{url} answered without images: {str(body)[:300]}")


def median_seconds(url: str, payload: dict, repeats: int) -> float:
    post(url, payload)  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        post(url, payload)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def per_step_and_fixed(url: str, payload: dict, steps: int, repeats: int) -> tuple[float, float]:
    """Seconds per sampling step and fixed seconds of a job, from its times at 1 and ``steps`` steps."""
    one = median_seconds(url, {**payload, "steps": 1}, repeats)
    many = median_seconds(url, {**payload, "steps": steps}, repeats)
    per_step = (many - one) / (steps - 1)
    return per_step, one - per_step


def model_call_gflops(frames: int, size: int) -> tuple[float, float] | None:
    """GFLOPs of one model call (cond and uncond, ``frames`` rows each) of an SD 1.5-shaped UNet
    at ``size`` pixels, without and with v2 motion modules; None without ldm."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lib_animatediff.devtools.random_weights import random_motion_modules
    from lib_animatediff.devtools.tiny_unet import build_unet
    from lib_animatediff.model.families import V2
    from lib_animatediff.model.injection import MotionModuleInjection

    try:
        with torch.device("meta"):
            unet = build_unet(V2.base, (320, 640, 1280, 1280), context_dim=768)
            modules = random_motion_modules(V2, (320, 640, 1280, 1280))
    except ImportError:
        return None
    rows, latent = 2 * frames, size // 8
    x, t = torch.empty(rows, 4, latent, latent, device="meta"), torch.full((rows,), 500, device="meta")
    context = torch.empty(rows, 77, 768, device="meta")

    def gflops() -> float:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            unet(x, t, context=context)
        return counter.get_total_flops() / 1e9

    plain = gflops()
    with MotionModuleInjection(unet, modules) as injection, injection.video(frames=frames):
        return plain, gflops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the WebUI's address")
    parser.add_argument("--model", required=True, help="a motion-module file name in the WebUI's motion-module folder")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="image width and height in pixels")
    parser.add_argument("--steps", type=int, default=6, help="at least 2")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    url = args.url.rstrip("/") + "/sdapi/v1/txt2img"
    base = {"prompt": "a red ball bouncing on a wooden floor", "seed": 1234, "sampler_name": "Euler",
            "width": args.size, "height": args.size, "cfg_scale": 7}  # fmt: skip
    animatediff = {"enable": True, "model": args.model, "video_length": args.frames, "batch_size": args.frames, "format": ["PNG"]}
    plain = per_step_and_fixed(url, {**base, "batch_size": args.frames}, args.steps, args.repeats)
    video = per_step_and_fixed(url, {**base, "alwayson_scripts": {"AnimateDiff": {"args": [animatediff]}}}, args.steps, args.repeats)
    total = [fixed + args.steps * step for step, fixed in (plain, video)]
    print(f"{args.frames} frames, {args.size}×{args.size}, {args.steps} Euler steps (and 1), median of {args.repeats}")
    print(f"| job | seconds per step | fixed seconds | seconds at {args.steps} steps |")
    print("|---|---|---|---|")
    print(f"| plain batch of {args.frames} images | {plain[0]:.2f} | {plain[1]:.2f} | {total[0]:.2f} |")
    print(f"| AnimateDiff, {args.frames} frames | {video[0]:.2f} | {video[1]:.2f} | {total[1]:.2f} |")
    print(f"ratio: {total[1] / total[0]:.2f} at {args.steps} steps; per step {video[0] / plain[0]:.2f}; fixed {video[1] / plain[1]:.2f}")
    flops = model_call_gflops(args.frames, args.size)
    if flops is not None:
        print(
            f"FLOPs of one model call: {flops[0]:.0f} GFLOP plain, {flops[1]:.0f} with the motion modules, ratio {flops[1] / flops[0]:.2f}"
        )


if __name__ == "__main__":
    main()
