"""One motion-module block forward at SD 1.5 shapes: median time, GFLOP/s, and the ratio to
a plain matmul of the same FLOPs, the two timed in turn so that both see the same machine;
then where a block's time goes, by operation, from torch's profiler.

    python bench/motion_module.py [--repeats 7] [--device cpu|cuda] [--threads N] [--dtype float32|float16|bfloat16]

Shapes: 2 videos × 16 frames; 320 ch at 64×64, 640 at 32×32, 1280 at 16×16 and 8×8.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_animatediff.devtools.random_weights import randomize_
from lib_animatediff.model.families import GroupNormMode
from lib_animatediff.model.motion_module import MotionModule

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


# what each profiled operation is part of, in the block
PARTS = {
    **dict.fromkeys(
        ("aten::mm", "aten::addmm", "aten::addmm_", "aten::baddbmm", "aten::baddbmm_", "aten::bmm"), "matmuls (the linear layers)"
    ),
    "aten::copy_": "copies (the token layout, bias broadcast into a matmul's output)",
    "aten::native_group_norm": "group norm",
    "aten::native_layer_norm": "layer norms",
    "aten::gelu_": "GEGLU (gelu, product)",
    "aten::mul_": "GEGLU (gelu, product)",
    "aten::add": "residual sums",
    "aten::add_": "residual sums",
    "aten::cat": "attention (videos' outputs joined)",
}


def part_of(op: str) -> str:
    return "attention (softmax(q kᵀ) v)" if "attention" in op else PARTS.get(op, "other")


def timed_in_turn(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each function, run in turn each round, so slow phases of a shared
    machine fall on all of them."""
    samples: dict[str, list[float]] = defaultdict(list)
    for round_number in range(repeats + 1):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if round_number:  # the first round warms up
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def bench_shape(channels: int, size: int, repeats: int, device: torch.device, dtype: torch.dtype = torch.float32) -> dict:
    module = randomize_(MotionModule(channels, 32, GroupNormMode.PER_FRAME), seed=0).to(device, dtype).eval()
    x = torch.randn(VIDEOS * FRAMES, channels, size, size, device=device, dtype=dtype)
    flops = block_flops(channels, size)
    # a matmul (tokens × C) @ (C × k·C) with the block's FLOPs
    tokens = VIDEOS * FRAMES * size * size
    width = max(1, round(flops / (2 * tokens * channels)))
    a = torch.randn(tokens, channels, device=device, dtype=dtype)
    b = torch.randn(channels, width, device=device, dtype=dtype)
    with torch.no_grad():
        times = timed_in_turn({"block": lambda: module(x, FRAMES), "matmul": lambda: a @ b}, repeats, device)
    seconds = times["block"]
    matmul_seconds = times["matmul"] * flops / (2 * tokens * channels * width)
    return {
        "shape": f"{channels} ch {size}×{size}",
        "ms": seconds * 1e3,
        "gflops": flops / seconds / 1e9,
        "matmul_ms": matmul_seconds * 1e3,
        "ratio": seconds / matmul_seconds,
    }


def profiled(channels: int, size: int, device: torch.device, dtype: torch.dtype) -> torch.profiler.profile:
    """torch's profile of one block forward (after a warm-up one)."""
    module = randomize_(MotionModule(channels, 32, GroupNormMode.PER_FRAME), seed=0).to(device, dtype).eval()
    x = torch.randn(VIDEOS * FRAMES, channels, size, size, device=device, dtype=dtype)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    module(x, FRAMES)
    with torch.profiler.profile(activities=activities) as profile:
        module(x, FRAMES)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return profile


def attention_kernels(profile: torch.profiler.profile) -> list[str]:
    """The scaled-dot-product-attention implementations torch ran."""
    names = {event.name for event in profile.events()}
    return sorted(name for name in names if "attention" in name and name.startswith("aten::_") and "backward" not in name)


def time_by_part(profile: torch.profiler.profile, device: torch.device) -> dict[str, float]:
    """Milliseconds of each part of the block: the operations' own time (on the device for CUDA)."""
    parts: dict[str, float] = defaultdict(float)
    for event in profile.key_averages():
        own_us = event.self_device_time_total if device.type == "cuda" else event.self_cpu_time_total
        if event.key.startswith("aten::") and own_us > 0:
            parts[part_of(event.key)] += own_us / 1e3
    return dict(sorted(parts.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {device} ({name}), {args.dtype}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {VIDEOS}×{FRAMES} frames"
    )
    print("| shape | median ms | GFLOP/s | same-FLOP matmul ms | ratio |")
    print("|---|---|---|---|---|")
    for channels, size in SHAPES:
        row = bench_shape(channels, size, args.repeats, device, dtype)
        print(f"| {row['shape']} | {row['ms']:.1f} | {row['gflops']:.1f} | {row['matmul_ms']:.1f} | {row['ratio']:.2f} |", flush=True)
    profile = profiled(*SHAPES[0], device, dtype)
    print(f"attention through: {', '.join(attention_kernels(profile)) or 'no fused kernel'}")
    parts = time_by_part(profile, device)
    total = sum(parts.values())
    print(f"\nwhere the time of one {SHAPES[0][0]} ch {SHAPES[0][1]}×{SHAPES[0][1]} block goes (torch profiler, operations' own time):")
    print("| part | ms | share |")
    print("|---|---|---|")
    for part, ms in parts.items():
        print(f"| {part} | {ms:.1f} | {ms / total:.0%} |")


if __name__ == "__main__":
    main()
