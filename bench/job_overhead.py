"""A 16-frame AnimateDiff job against a plain batch of 16 images in a running WebUI, over its
API: same size, steps, sampler and seed; the ratio of their times is what AnimateDiff costs.

    python bench/job_overhead.py --url http://127.0.0.1:7860 --model mm_sd15_v2.safetensors
        [--frames 16] [--size 64] [--steps 4] [--repeats 3]

Each job runs once to warm up (a new batch shape costs extra the first time), then --repeats
times; the table gives the median seconds. The WebUI must have been started with --api.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the WebUI's address")
    parser.add_argument("--model", required=True, help="a motion-module file name in the WebUI's motion-module folder")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="image width and height in pixels")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    url = args.url.rstrip("/") + "/sdapi/v1/txt2img"
    base = {"prompt": "a red ball bouncing on a wooden floor", "seed": 1234, "steps": args.steps, "sampler_name": "Euler",
            "width": args.size, "height": args.size, "cfg_scale": 7}  # fmt: skip
    animatediff = {"enable": True, "model": args.model, "video_length": args.frames, "batch_size": args.frames, "format": ["PNG"]}
    plain = median_seconds(url, {**base, "batch_size": args.frames}, args.repeats)
    video = median_seconds(url, {**base, "alwayson_scripts": {"AnimateDiff": {"args": [animatediff]}}}, args.repeats)
    print(f"{args.frames} frames, {args.size}×{args.size}, {args.steps} Euler steps, median of {args.repeats}")
    print("| job | seconds |")
    print("|---|---|")
    print(f"| plain batch of {args.frames} images | {plain:.2f} |")
    print(f"| AnimateDiff, {args.frames} frames | {video:.2f} |")
    print(f"ratio {video / plain:.2f}")


if __name__ == "__main__":
    main()
