"""Time and size of every output format for one animation (default 64 frames of 512×512).

    python bench/outputs.py [--frames 64] [--size 512] [--fps 8] [--keep DIR]

The frames are a generated moving pattern (soft colour blobs drifting over a gradient, fine
stripes and a textured square crossing the frame), so encoders see both smooth areas and
detail. Each row writes the animation once through ``write_animation`` and reads the file back
to check its frame count. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pattern(frames: int, size: int, seed: int = 0) -> list:
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([xx / size * 160 + 40, yy / size * 120 + 60, (xx + yy) / (2 * size) * 80 + 90], axis=-1)
    blobs = [
        (rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 10, size / 4), rng.uniform(0, 255, 3), rng.uniform(-3, 3, 2))
        for _ in range(8)
    ]
    side = size // 6
    texture = rng.integers(60, 255, (side, side, 3)).astype(np.float32)
    images = []
    for i in range(frames):
        a = base.copy()
        for cx, cy, radius, colour, (vx, vy) in blobs:
            weight = np.exp(-((xx - cx - vx * i) ** 2 + (yy - cy - vy * i) ** 2) / (2 * radius * radius))[..., None]
            a = a * (1 - weight) + colour * weight
        a += 12 * np.sin((xx + 2 * i) / 3.0)[..., None]
        x0 = int((i * size / frames) % (size - side))
        a[size // 2 : size // 2 + side, x0 : x0 + side] = texture
        images.append(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)))
    return images


def count_frames(path: Path) -> int:
    from PIL import Image

    if path.suffix in (".gif", ".webp"):
        with Image.open(path) as image:
            return image.n_frames
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def main() -> None:
    from lib_animatediff.media.writers import OutputSettings, VideoMeta, gifsicle_available, write_animation

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=8)
    parser.add_argument("--keep", type=Path, help="write the files here instead of a temporary folder")
    args = parser.parse_args()

    frames = pattern(args.frames, args.size)
    meta = VideoMeta(fps=args.fps, loop=0, infotext="bench: a moving pattern, Steps: 20, Seed: 0")
    rows = [
        ("GIF", "palette (palettegen/paletteuse)", OutputSettings(gif_palette=True)),
        ("GIF", "no palette (Pillow, per frame)", OutputSettings(gif_palette=False)),
    ]
    if gifsicle_available():
        rows += [
            ("GIF", "palette + gifsicle -O3", OutputSettings(gif_palette=True, gifsicle=True)),
            ("GIF", "no palette + gifsicle -O3", OutputSettings(gif_palette=False, gifsicle=True)),
        ]
    rows += [
        ("MP4", "libx264 crf 23, default preset", OutputSettings()),
        ("MP4", "libx264 crf 23, veryfast", OutputSettings(mp4_preset="veryfast")),
        ("WEBM", "VP9 crf 32, cpu-used 4", OutputSettings()),
        ("WEBP", "quality 80", OutputSettings()),
        ("WEBP", "lossless", OutputSettings(webp_lossless=True)),
        ("PNG", f"{args.frames} files", OutputSettings()),
    ]

    with tempfile.TemporaryDirectory(prefix="animatediff-bench-") as scratch:
        folder = args.keep or Path(scratch)
        results = []
        for index, (fmt, label, settings) in enumerate(rows):
            start = time.perf_counter()
            paths = write_animation(frames, folder, f"{index:02d}-{fmt.lower()}", [fmt], meta, settings)
            seconds = time.perf_counter() - start
            size = sum(path.stat().st_size for path in paths)
            read = len(paths) if fmt == "PNG" else count_frames(paths[0])
            results.append((fmt, label, seconds, size, read))

    print(f"{args.frames} frames of {args.size}×{args.size} at {args.fps:g} fps; {sys.platform}, Python {sys.version.split()[0]}")
    print()
    print("| format | settings | seconds | size KiB | frames read back |")
    print("|---|---|---:|---:|---:|")
    for fmt, label, seconds, size, read in results:
        print(f"| {fmt} | {label} | {seconds:.2f} | {size / 1024:,.0f} | {read} |")
    if not gifsicle_available():
        print()
        print("gifsicle rows left out: the gifsicle binary is not installed")


if __name__ == "__main__":
    main()
