"""``python -m lib_animatediff``: inspect motion-module files, or make random ones."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from .devtools.demo import denoise_video, latents_to_images
from .devtools.random_weights import random_motion_modules, save_motion_modules
from .errors import AnimateDiffError
from .media.writers import OutputSettings, VideoMeta, write_animation
from .model.families import FAMILIES, family_by_name
from .model.hashing import HashCache, default_cache_file
from .model.inspection import inspect_file
from .model.loader import load_motion_module

REDUCED_CHANNELS = {4: "32,64,64,64", 3: "32,64,96"}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib_animatediff", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    inspect = commands.add_parser("inspect", help="report family, frames, layout, size and hash of motion-module files")
    inspect.add_argument("files", nargs="+", type=Path, metavar="FILE")
    inspect.add_argument("--demo", type=Path, metavar="OUT.gif", help="also denoise a short video with a tiny random UNet")
    inspect.add_argument("--frames", type=int, default=8, help="frames of the demo video (default 8)")
    inspect.add_argument("--steps", type=int, default=4, help="Euler steps of the demo (default 4)")
    inspect.add_argument("--json", action="store_true", help="one JSON object per file instead of text")
    inspect.add_argument("--no-hash", action="store_true", help="skip the sha256 (slow for big files)")
    inspect.add_argument("--hash-cache", type=Path, default=default_cache_file(), help="where hashes are cached")
    inspect.set_defaults(run=_inspect)

    make = commands.add_parser("make-random", help="write a motion module of a published layout with random weights")
    make.add_argument("output", type=Path, metavar="OUT", help=".safetensors, .ckpt or .pth")
    make.add_argument("--family", choices=sorted(FAMILIES), default="v2")
    make.add_argument("--channels", help="channels per down level; default: a reduced size (full size: 320,640,1280[,1280])")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32")
    make.add_argument("--naming", choices=("animatediff", "hotshot"), default="animatediff")
    make.set_defaults(run=_make_random)
    return parser


def _inspect(args: argparse.Namespace) -> int:
    hashes = None if args.no_hash else HashCache(args.hash_cache)
    failures = 0
    for path in args.files:
        report = inspect_file(path, hashes, compute_hash=not args.no_hash)
        print(json.dumps(report.to_dict()) if args.json else report.to_text(), flush=True)
        failed = bool(report.error)
        if not failed and args.demo:
            failed = not _run_demo(path, _demo_path(args.demo, path, len(args.files)), args.frames, args.steps)
        failures += failed
    return 1 if failures else 0


def _run_demo(path: Path, output: Path, frames: int, steps: int) -> bool:
    try:
        modules = load_motion_module(path).float()
        if frames > modules.pe_len:
            raise AnimateDiffError(f"{frames} frames asked, but {path.name} supports at most {modules.pe_len}")
        latents = denoise_video(modules, frames=frames, steps=steps)
    except AnimateDiffError as error:
        print(f"{path.name}: error: demo failed: {error}", flush=True)
        return False
    write_animation(latents_to_images(latents), output.parent, output.stem, ["GIF"], VideoMeta(fps=8), OutputSettings(gif_palette=False))
    print(f"  {'demo':<11}{frames} frames, {steps} steps -> {output}", flush=True)
    return True


def _demo_path(demo: Path, source: Path, count: int) -> Path:
    return demo if count == 1 else demo.with_name(f"{demo.stem}-{source.stem}{demo.suffix}")


def _make_random(args: argparse.Namespace) -> int:
    family = family_by_name(args.family)
    channels = [int(c) for c in (args.channels or REDUCED_CHANNELS[family.levels]).split(",")]
    modules = random_motion_modules(family, channels, seed=args.seed).to(getattr(torch, args.dtype))
    save_motion_modules(modules, args.output, naming=args.naming)
    print(f"wrote {args.output}: random {family.title}, channels {channels}, {args.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
