"""One motion-module block forward at SD 1.5 shapes: median time, GFLOP/s, and the ratio to
a plain matmul of the same FLOPs timed in the same run.

    python bench/motion_module.py [--repeats 5] [--device cpu|cuda] [--threads N] [--dtype float32|float16|bfloat16]

Shapes: 2 videos × 16 frames; 320 ch at 64×64, 640 at 32×32, 1280 at 16×16 and 8×8.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_animatediff.devtools.random_weights import randomize_  # noqa: E402
from lib_animatediff.model.families import GroupNormMode  # noqa: E402
from lib_animatediff.model.motion_module import MotionModule  # noqa: E402

VIDEOS, FRAMES = 2, 16
SHAPES = [(320, 64), (640, 32), (1280, 16), (1280, 8)]


def block_flops(channels: int, size: int) -> float:
    """Multiply-adds × 2 of one block: the linear layers on every token, plus attention."""
    tokens = VIDEOS * FRAMES * size * size
    # proj_in, proj_out: 1 C² each; per attention q, k, v, out: 4 C²; GEGLU: 8 C² + 4 C².
    linear = tokens * channels * channels * (2 + 2 * 4 + 12)
    # QKᵀ and AV over frames, for each of the two attentions
    attention = 2 * 2 * tokens * FRAMES * channels
    return 2.0 * (linear + attention)


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_shape(channels: int, size: int, repeats: int, device: torch.device, dtype: torch.dtype = torch.float32) -> dict:
    module = randomize_(MotionModule(channels, 32, GroupNormMode.PER_FRAME), seed=0).to(device, dtype).eval()
    x = torch.randn(VIDEOS * FRAMES, channels, size, size, device=device, dtype=dtype)
    flops = block_flops(channels, size)
    with torch.no_grad():
        seconds = timed(lambda: module(x, FRAMES), repeats, device)
        # a matmul (tokens × C) @ (C × k·C) with the block's FLOPs
        tokens = VIDEOS * FRAMES * size * size
        width = max(1, round(flops / (2 * tokens * channels)))
        a = torch.randn(tokens, channels, device=device, dtype=dtype)
        b = torch.randn(channels, width, device=device, dtype=dtype)
        matmul_seconds = timed(lambda: a @ b, repeats, device) * flops / (2 * tokens * channels * width)
    return {
        "shape": f"{channels} ch {size}×{size}",
        "ms": seconds * 1e3,
        "gflops": flops / seconds / 1e9,
        "matmul_ms": matmul_seconds * 1e3,
        "ratio": seconds / matmul_seconds,
    }


def attention_kernels(channels: int, size: int, device: torch.device, dtype: torch.dtype) -> list[str]:
    """The scaled-dot-product-attention implementations torch ran in one block forward (CUDA)."""
    module = randomize_(MotionModule(channels, 32, GroupNormMode.PER_FRAME), seed=0).to(device, dtype).eval()
    x = torch.randn(VIDEOS * FRAMES, channels, size, size, device=device, dtype=dtype)
    with torch.no_grad(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        module(x, FRAMES)
    names = {event.name for event in profile.events()}
    return sorted(name for name in names if "attention" in name and name.startswith("aten::_") and "backward" not in name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), {args.dtype}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {VIDEOS}×{FRAMES} frames")
    print(f"| shape | median ms | GFLOP/s | same-FLOP matmul ms | ratio |")
    print(f"|---|---|---|---|---|")
    for channels, size in SHAPES:
        row = bench_shape(channels, size, args.repeats, device, dtype)
        print(f"| {row['shape']} | {row['ms']:.1f} | {row['gflops']:.1f} | {row['matmul_ms']:.1f} | {row['ratio']:.2f} |", flush=True)
    print(f"attention through: {', '.join(attention_kernels(*SHAPES[0], device, dtype)) or 'no fused kernel'}")


if __name__ == "__main__":
    main()
