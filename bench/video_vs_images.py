"""One step of a 16-frame AnimateDiff video against one step of a plain batch of 16 images:
seconds per step and peak memory, the same UNet, size and sampler.

    python bench/video_vs_images.py [--frames 16] [--size 64] [--steps 4]
        [--device cpu|cuda] [--dtype float32|float16|bfloat16] [--channels 320,640,1280,1280]

The video runs with v2 motion modules spliced in (one context window of all frames), the
images without them; everything else (random SD 1.5-shaped UNet, cond and uncond as one batch,
Euler steps, the UNet's attention through scaled_dot_product_attention, half precision through
autocast) is shared with bench/context_schedules.py. Each runs in a fresh process (on CUDA
after one warm-up pass); memory is the peak growth over what was allocated before sampling
(CUDA) or of the process's peak resident size (CPU, one thread).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

KINDS = ("images", "video")


def denoise_images(unet, frames: int, steps: int, size: int, device) -> None:
    """The plain batch: ``frames`` images through the same Euler loop, no motion modules."""
    import torch

    from lib_animatediff.devtools.demo import GUIDANCE, SD_SCHEDULE, unet_call
    from lib_animatediff.devtools.euler import epsilon_denoiser, sample_euler, sampling_sigmas
    from lib_animatediff.devtools.tiny_unet import CONTEXT_DIM

    generator = torch.Generator().manual_seed(0)
    noise = torch.randn((frames, 4, size, size), generator=generator).to(device)
    cond = torch.randn((1, 7, CONTEXT_DIM), generator=generator)
    context = torch.cat([cond, torch.zeros_like(cond)]).repeat_interleave(frames, dim=0).to(device)
    alphas = SD_SCHEDULE.alphas_cumprod()
    denoise_rows = epsilon_denoiser(unet_call(unet), alphas, c=context)

    def denoise(x, sigma):
        conditioned, uncond = denoise_rows(torch.cat([x, x]), sigma).chunk(2)
        return uncond + GUIDANCE * (conditioned - uncond)

    sigmas = sampling_sigmas(alphas, steps)
    sample_euler(denoise, noise * sigmas[0], sigmas)


def measure(kind: str, args: argparse.Namespace) -> dict:
    from context_schedules import bench_models, seconds_and_peak

    from lib_animatediff.devtools.demo import denoise_video
    from lib_animatediff.sampling.context import ContextSchedule

    device, dtype, unet, modules = bench_models(args)
    if kind == "video":
        schedule = ContextSchedule(context=args.frames)

        def denoise() -> None:
            denoise_video(modules, frames=args.frames, steps=args.steps, latent_size=(args.size, args.size), schedule=schedule,
                          unet=unet, device=device)  # fmt: skip
    else:

        def denoise() -> None:
            denoise_images(unet, args.frames, args.steps, args.size, device)

    seconds, growth = seconds_and_peak(denoise, device, dtype)
    return {"kind": kind, "per_step": seconds / args.steps, "growth_mib": growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="latent height and width (64: 512×512 images)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--channels", default="320,640,1280,1280", help="the UNet's channels per level")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args)))
        return
    rows = {}
    for kind in KINDS:
        command = [sys.executable, __file__, *sys.argv[1:], "--child", kind]
        rows[kind] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    where = "CPU, 1 thread"
    if args.device.startswith("cuda"):
        import torch

        where = torch.cuda.get_device_name(args.device)
    print(f"{args.frames} frames, latent {args.size}×{args.size}, channels {args.channels}, cond+uncond, {args.dtype}, {where}")
    print("| batch | seconds per step | peak memory growth MiB |")
    print("|---|---|---|")
    for kind, label in (("images", f"{args.frames} images"), ("video", f"{args.frames}-frame video (v2 motion modules)")):
        print(f"| {label} | {rows[kind]['per_step']:.3f} | {rows[kind]['growth_mib']:.0f} |")
    images, video = rows["images"], rows["video"]
    memory = f"{video['growth_mib'] / images['growth_mib']:.2f}×" if images["growth_mib"] > 0 else "n/a"
    print(f"video / images: {video['per_step'] / images['per_step']:.2f}× the time, {memory} the memory")


if __name__ == "__main__":
    main()
