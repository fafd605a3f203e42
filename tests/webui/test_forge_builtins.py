"""Forge's built-in extensions beside AnimateDiff in a real Forge: FreeU, Self-Attention
Guidance, Perturbed-Attention Guidance, Kohya HRFix (Deep Shrink), Dynamic Thresholding,
LatentModifier, MultiDiffusion and StyleAlign ship with every Forge and are one tick away.

Each patches Forge's UNet patcher before every sampling; some call the model again from a
post-CFG function (SAG, PAG) or call it per tile (MultiDiffusion). An animation of 12 frames in
windows of 8 runs with each of them: it works and the built-in acts (its frames differ from the
same job without it), every UNet call holds whole windows of frames (the record_sampling
extension's calls), or the job is refused before sampling with the reason; the WebUI serves
plain jobs as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from webui_api import (
    Job,
    PlainImages,
    WebUIServer,
    animatediff,
    assert_plain_unchanged,
    describe,
    mean_abs_diff,
    run_job,
    run_recorded,
    txt2img_payload,
)

pytestmark = pytest.mark.forge_only("Forge's built-in extensions")

FRAMES = 12
CONTEXT = 8
STEPS = 3

SAG = "selfattentionguidance integrated (sd 1.x, sd 2.x, sdxl)"
NEVER_OOM = "never oom integrated"
BUILTINS: dict[str, tuple[str, list[Any]]] = {
    "FreeU": ("freeu integrated (sd 1.x, sd 2.x, sdxl)", [True, 1.1, 1.2, 0.9, 0.8, 0.0, 1.0]),
    "PAG": ("perturbedattentionguidance integrated", [True, 30.0, 0.0, 0.0, 1.0]),
    "Kohya HRFix": ("kohya hrfix integrated", [True, 1, 2.0, 0.0, 1.0, True, "bicubic", "bicubic"]),
    "Dynamic Thresholding": (
        "dynamicthresholding (cfg-fix) integrated",
        [True, 3.0, 0.9, "Constant", 0.0, "Constant", 0.0, 1.0, "enable", "MEAN", "AD", 1.0],
    ),
    "LatentModifier": (
        "latentmodifier integrated",  # CFG rescale φ 1 (its sharpness and contrast act at 1/1000 of the slider)
        [True, 0.0, "anisotropic", 0.0, "reinhard", 100.0, 0.0, "subtract", 0.0, 1.0, "gaussian", "add", 0.0, 100, 127, 0.0,
         "hard_clamp", 5.0, 0.0, "None", "None"],
    ),
    "MultiDiffusion": ("multidiffusion integrated", [True, "MultiDiffusion", 32, 32, 0, 4]),
    "StyleAlign": ("stylealign integrated", [True, 1.0]),
}
# PAG replaces the middle block's self-attention by its values: at 64×64 that block holds one
# token, where attention is its value already, so PAG's job is 128×128
SIZE = {"PAG": 128}


def job(builtins: dict[str, list[Any]], size: int = 64, **animation: Any) -> dict:
    scripts = animatediff(**{"video_length": FRAMES, "batch_size": CONTEXT, "overlap": 2, **animation})
    scripts.update({key: {"args": args} for key, args in builtins.items()})
    return txt2img_payload(steps=STEPS, width=size, height=size, alwayson_scripts=scripts)


def assert_frames(done: Job, server: WebUIServer, size: int = 64) -> None:
    assert done.response.ok and len(done.frames) == FRAMES, describe(done, server)
    assert all(frame.shape == (size, size, 3) for frame in done.frames), [frame.shape for frame in done.frames]


@pytest.fixture(scope="module")
def without_builtins(server: WebUIServer) -> Callable[..., list]:
    """The frames of the same animation without any built-in, by size and AnimateDiff's arguments."""
    made: dict[str, list] = {}

    def frames(size: int = 64, **animation: Any) -> list:
        key = repr((size, sorted(animation.items())))
        if key not in made:
            for _ in range(2):  # the first job of a new batch shape can come out differently on the CPU
                plain = run_job(server, "txt2img", job({}, size, **animation))
                assert_frames(plain, server, size)
            made[key] = plain.frames
        return made[key]

    return frames


def assert_acted(name: str, done: Job, without: list, server: WebUIServer) -> None:
    change = max(mean_abs_diff(a, b) for a, b in zip(done.frames, without))
    assert change > 0.1, f"{name} changed no frame (largest mean |diff| {change:.3f})\n{describe(done, server)}"


@pytest.mark.parametrize("builtin", list(BUILTINS))
def test_an_animation_with_a_builtin_extension(server: WebUIServer, without_builtins: Callable[..., list], builtin: str) -> None:
    key, args = BUILTINS[builtin]
    size = SIZE.get(builtin, 64)
    without = without_builtins(size)
    done, events = run_recorded(server, "txt2img", job({key: args}, size))
    assert_frames(done, server, size)
    assert_acted(builtin, done, without, server)
    rows = [event["rows"] for event in events if event["kind"] == "unet"]
    assert rows and all(count % CONTEXT == 0 for count in rows), f"UNet calls' rows (whole windows of {CONTEXT} frames): {rows}"
    if builtin == "PAG":  # its second model call per step, the prompt's rows alone, ran in windows too
        assert CONTEXT in rows, f"UNet calls' rows: {rows}"


def test_self_attention_guidance_over_windows_is_refused(server: WebUIServer) -> None:
    """SAG keeps the attention of the last model call and blurs every frame by it: with windows a
    call holds one window's frames, so it cannot (Forge alone answers 500, a shape error)."""
    refused = run_job(server, "txt2img", job({SAG: [True, 2.0, 2.0, 0.0]}))
    assert refused.response.status == 422, describe(refused, server)
    message = refused.response.body.get("detail") or refused.response.body.get("message") or ""
    assert "SelfAttentionGuidance" in message and "'views'" in message, message


@pytest.mark.parametrize("animation", [{"context_schedule": "views"}, {"batch_size": FRAMES}], ids=["views", "one window"])
def test_self_attention_guidance_when_each_call_holds_every_frame(
    server: WebUIServer, without_builtins: Callable[..., list], animation: dict
) -> None:
    without = without_builtins(**animation)
    done = run_job(server, "txt2img", job({SAG: [True, 2.0, 2.0, 0.0]}, **animation))
    assert_frames(done, server)
    assert_acted("SAG", done, without, server)


def test_never_oom_unloads_every_model_and_the_animation_runs_as_before(server: WebUIServer, without_builtins: Callable[..., list]) -> None:
    """Never OOM, each time its UNet tick changes, has Forge's memory manager unload every model it
    holds (the motion modules the last job lent it among them) and sets how far it offloads the
    UNet (layer by layer on a GPU; nothing moves on a CPU host). The animation runs with it on and
    after it is off again, and comes out as without it. (Its VAE tick is left off: Forge's tiled
    decode fails on latents smaller than its tile, "start (64) + length (1) exceeds dimension
    size (64)" in backend/patcher/vae.py at 64×64.)"""
    without = without_builtins()
    for ticked in (True, False):
        done = run_job(server, "txt2img", job({NEVER_OOM: [ticked, False]}))
        assert_frames(done, server)
        change = max(mean_abs_diff(a, b) for a, b in zip(done.frames, without))
        assert change < 0.5, f"Never OOM {'on' if ticked else 'off again'}: largest mean |diff| {change:.3f}\n{describe(done, server)}"


def test_plain_jobs_after_the_builtins(server: WebUIServer, baseline: tuple[PlainImages, PlainImages]) -> None:
    assert_plain_unchanged(server, baseline, "AnimateDiff jobs beside Forge's built-in extensions")
