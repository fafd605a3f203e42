"""Helpers for driving a real A1111 WebUI: HTTP (no third-party client), images, payloads."""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageSequence

# 127.0.0.1 must never go through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# (test, method, path, HTTP status, seconds) of every request, for the timing summary
REQUEST_LOG: list[tuple[str, str, str, int, float]] = []
CURRENT_TEST = {"name": "(setup)"}


@dataclass
class ApiResponse:
    status: int
    body: Any  # parsed JSON, or the text when the answer was not JSON
    elapsed: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)

    def images(self) -> list[np.ndarray]:
        """Every PNG image of a txt2img/img2img answer (the frames, in an AnimateDiff answer),
        decoded to (H, W, 3) uint8 arrays."""
        assert self.ok, f"request failed: HTTP {self.status}: {self.text[:2000]}"
        return [decode_png(item) for item in self.body.get("images") or [] if _decoded(item).startswith(PNG_SIGNATURE)]

    def videos(self) -> list[bytes]:
        """The files an AnimateDiff answer carries before its frames (GIF, MP4, WEBM, WEBP)."""
        assert self.ok, f"request failed: HTTP {self.status}: {self.text[:2000]}"
        decoded = [_decoded(item) for item in self.body.get("images") or []]
        return [data for data in decoded if not data.startswith(PNG_SIGNATURE)]

    def info(self) -> dict:
        return json.loads(self.body["info"])


def request(url: str, payload: Any = None, timeout: float = 1800, method: str | None = None) -> ApiResponse:
    """GET (payload None) or POST JSON; HTTP errors are answers, not exceptions."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method or ("GET" if data is None else "POST"))
    start = time.monotonic()
    try:
        with _OPENER.open(req, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    elapsed = time.monotonic() - start
    REQUEST_LOG.append((CURRENT_TEST["name"], req.get_method(), urllib.parse.urlsplit(url).path, status, elapsed))
    return ApiResponse(status, body, elapsed)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decoded(encoded: str) -> bytes:
    if "," in encoded[:100] and encoded.startswith("data:"):
        encoded = encoded.split(",", 1)[1]
    return base64.b64decode(encoded)


def decode_png(encoded: str) -> np.ndarray:
    with Image.open(io.BytesIO(_decoded(encoded))) as image:
        return np.asarray(image.convert("RGB")).copy()


def encode_png(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def read_gif(path: Path) -> list[np.ndarray]:
    """All frames of an animated GIF as (H, W, 3) uint8 arrays."""
    with Image.open(path) as image:
        assert image.format == "GIF", f"{path} is {image.format}, not a GIF"
        return [np.asarray(frame.convert("RGB")).copy() for frame in ImageSequence.Iterator(image)]


def difference(a: np.ndarray, b: np.ndarray) -> str:
    """How two images differ, for assertion messages."""
    if a.shape != b.shape:
        return f"shapes {a.shape} vs {b.shape}"
    delta = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return f"max |diff| {delta.max()}, mean |diff| {delta.mean():.3f}, {np.count_nonzero(delta) / delta.size:.1%} of values differ"


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def init_image_pattern(size: int = 64, seed: int = 7) -> np.ndarray:
    """A fixed RGB image (smooth gradients, a disc, mild noise) to use as an img2img input."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.06).astype(np.float64)
    red = 255 * (0.2 + 0.6 * x)
    green = 255 * (0.3 + 0.5 * y * (1 - disc) + 0.2 * disc)
    blue = 255 * (0.5 + 0.4 * disc - 0.3 * x * y)
    pixels = np.stack([red, green, blue], axis=-1) + rng.normal(0, 6, (size, size, 3))
    return np.clip(pixels, 0, 255).round().astype(np.uint8)


# --------------------------------------------------------------------------- the test set-up

MOTION_MODULE = "mm_sd15_v2_random.safetensors"
ANIMATELCM_MOTION_MODULE = "AnimateLCM_sd15_t2v_random.safetensors"
CHECKPOINT = "random_sd15.safetensors"
# a small SDXL-architecture checkpoint (channels 64/128/256) and motion modules to match it
SDXL_CHECKPOINT = "random_sdxl.safetensors"
SECOND_CHECKPOINT = "random_sd15_seed1.safetensors"
SDXL_REFINER = "sdxl_refiner_header.safetensors"
SDXL_CHANNELS = "64,128,256"  # the reduced test SDXL on A1111
FORGE_SDXL_CHANNELS = "320,640,1280"  # Forge's test SDXL has SDXL's widths
SDXL_MOTION_MODULE = "mm_sdxl_random.safetensors"
HOTSHOT_MOTION_MODULE = "hsxl_temporal_layers_random.safetensors"
EXTENSION_NAME = "sd-webui-animatediff-a1111"

# --------------------------------------------------------------------------- the test extensions

EXTENSIONS = Path(__file__).resolve().parent / "extensions"  # one script each, copied into every test WebUI


def extension_source(name: str) -> str:
    return (EXTENSIONS / f"{name}.py").read_text(encoding="utf-8")


def extension_constant(name: str, constant: str) -> Any:
    """A literal a test extension defines at its top level (its marker, its log's name): the
    extension is the one place it is written, and it cannot be imported outside the WebUI."""
    for node in ast.parse(extension_source(name)).body:
        if isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and target.id == constant for target in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"{constant} is not a literal of the {name} test extension")


RAISE_MARKER = extension_constant("raise_in_sampling", "MARKER")
RAISE_MESSAGE = extension_constant("raise_in_sampling", "MESSAGE")
EXTRA_PASS_MARKER = extension_constant("extra_pass", "MARKER")
SAMPLER_RECORDS = extension_constant("record_sampling", "FOLDER_NAME")
CONTROL_HINTS_LOG = extension_constant("record_control_hints", "LOG_NAME")
IP_ADAPTER_LOG = extension_constant("record_ip_adapter", "LOG_NAME")
IMG2IMG_BATCH_ROUTE = extension_constant("img2img_batch_route", "ROUTE")

# Every request of these tests: tiny and fast, fixed seed.
BASE_PAYLOAD: dict[str, Any] = {
    "prompt": "a red ball bouncing on a wooden floor",
    "negative_prompt": "blurry",
    "seed": 1234,
    "steps": 2,
    "sampler_name": "Euler",
    "cfg_scale": 7,
    "width": 64,
    "height": 64,
    "batch_size": 1,
    "n_iter": 1,
}
INIT_IMAGE = encode_png(init_image_pattern(64))


@dataclass
class WebUIServer:
    url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen
    motion_module: str = MOTION_MODULE

    def post(self, path: str, payload: dict, timeout: float = 1800) -> ApiResponse:
        return request(self.url + path, payload, timeout=timeout)

    def get(self, path: str, timeout: float = 60) -> ApiResponse:
        return request(self.url + path, timeout=timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def gifs(self, mode: str) -> set[Path]:
        """Every AnimateDiff GIF written so far for ``mode`` ('txt2img' or 'img2img')."""
        folder = self.data_dir / "outputs" / f"{mode}-images" / "AnimateDiff"
        return set(folder.glob("*/*.gif")) if folder.is_dir() else set()

    def alive(self) -> bool:
        return self.process.poll() is None


# --------------------------------------------------------------------------- motion LoRA files

V2_LEVELS = (320, 640, 1280, 1280)
MOTION_LORA_RANK = 8


def _v2_motion_blocks() -> list[tuple[str, int]]:
    blocks = [(f"down_blocks.{level}.motion_modules.{m}", c) for level, c in enumerate(V2_LEVELS) for m in range(2)]
    blocks += [("mid_block.motion_modules.0", V2_LEVELS[-1])]
    blocks += [(f"up_blocks.{level}.motion_modules.{m}", c) for level, c in enumerate(reversed(V2_LEVELS)) for m in range(3)]
    return blocks


def guoyww_motion_lora(channels_of: Callable[[int], int] = lambda c: c, seed: int = 3) -> dict:
    """Random motion-LoRA tensors for the full-size v2 module, in the published (guoyww) naming."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for block, level_channels in _v2_motion_blocks():
        c = channels_of(level_channels)
        for attention in range(2):
            stem = f"{block}.temporal_transformer.transformer_blocks.0.attention_blocks.{attention}.processor"
            for proj in ("to_q", "to_k", "to_v", "to_out"):
                tensors[f"{stem}.{proj}_lora.down.weight"] = torch.randn(MOTION_LORA_RANK, c, generator=generator) / c**0.5
                tensors[f"{stem}.{proj}_lora.up.weight"] = torch.randn(c, MOTION_LORA_RANK, generator=generator)
    return tensors


# --------------------------------------------------------------------------- payloads and plain jobs

# Forge's Hires. fix reads ``hr_additional_modules`` as a list, which its API leaves None: every
# API hires job without it fails there with a TypeError (its UI sends "Use same choices").
FORGE_HIRES = {"hr_additional_modules": ["Use same choices"]}


def on_forge() -> bool:
    return bool(os.environ.get("SD_WEBUI_DIR")) and (Path(os.environ["SD_WEBUI_DIR"]).expanduser() / "modules_forge").is_dir()


def txt2img_payload(**overrides: Any) -> dict:
    hires = FORGE_HIRES if overrides.get("enable_hr") and on_forge() else {}
    return {**BASE_PAYLOAD, **hires, **overrides}


def img2img_payload(**overrides: Any) -> dict:
    return {**BASE_PAYLOAD, "init_images": [INIT_IMAGE], "denoising_strength": 0.5, **overrides}


def flat_frames(folder: Path, colours: Sequence[Any], name: str = "frame{}.png") -> Path:
    """``folder`` holding one flat 64×64 image per colour (a grey level or an RGB triple), frame
    ``i`` named ``name.format(i)``."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, colour in enumerate(colours):
        Image.fromarray(np.full((64, 64, 3), colour, dtype=np.uint8)).save(folder / name.format(index))
    return folder


def batch_tab_animation(server: WebUIServer, request: dict, frames: int) -> Path:
    """An img2img Batch-tab run through the test route (extensions/img2img_batch_route.py),
    asserted to have sampled the request's steps with seed 1 and written one GIF of ``frames``
    frames; that GIF."""
    before = server.gifs("img2img")
    answer = server.post(IMG2IMG_BATCH_ROUTE, request)
    assert answer.ok, f"HTTP {answer.status}: {answer.text[:2000]}\n{server.log_tail(60)}"
    info = json.loads(answer.body["info"])
    assert (info["steps"], info["seed"]) == (request["steps"], 1), f"the job ran {info['steps']} steps, seed {info['seed']}"
    gifs = sorted(server.gifs("img2img") - before)
    assert len(gifs) == 1 and len(read_gif(gifs[0])) == frames, f"{gifs}\n{server.log_tail(60)}"
    return gifs[0]


def animatediff(model: str = MOTION_MODULE, **overrides: Any) -> dict:
    """``alwayson_scripts`` for an AnimateDiff job (8 frames, one context window of 8)."""
    args = {
        "enable": True, "model": model, "video_length": 8, "fps": 8, "batch_size": 8,
        "stride": 1, "overlap": -1, "closed_loop": "N", "format": ["GIF", "PNG"],
    }  # fmt: skip
    args.update(overrides)
    return {"AnimateDiff": {"args": [args]}}


@dataclass
class PlainImages:
    txt2img: list[np.ndarray]
    img2img: list[np.ndarray]
    options: dict = field(default_factory=dict)  # the WebUI's settings when they were made


def plain_jobs(server: WebUIServer) -> PlainImages:
    """A plain txt2img and a plain img2img with fixed seeds: the restore probe. (Batch 1:
    whatever a job could leave behind — a motion module still injected, a model wrapper
    expecting whole videos, a swapped noise schedule — changes or breaks a single image.)"""
    first = server.post("/sdapi/v1/txt2img", txt2img_payload())
    second = server.post("/sdapi/v1/img2img", img2img_payload())
    return PlainImages(first.images(), second.images(), server.get("/sdapi/v1/options").body)


# --------------------------------------------------------------------------- jobs and checks

GIF_NAME = re.compile(r"^\d{5}-(\d+)\.gif$")
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Job:
    response: ApiResponse
    frames: list[np.ndarray]
    gifs: list[Path] = field(default_factory=list)  # written by this request, in name order


def run_job(server: WebUIServer, mode: str, payload: dict) -> Job:
    before = server.gifs(mode)
    response = server.post(f"/sdapi/v1/{mode}", payload)
    frames = response.images() if response.ok else []
    return Job(response, frames, sorted(server.gifs(mode) - before))


def sampling_records(server: WebUIServer) -> list[Path]:
    """The record files of the record_sampling test extension (conftest.py), oldest first."""
    folder = server.data_dir / SAMPLER_RECORDS
    return sorted(folder.glob("*.pt")) if folder.is_dir() else []


def run_recorded(server: WebUIServer, mode: str, payload: dict) -> tuple[Job, list[dict]]:
    """A job, and the events the record_sampling extension recorded for it (see conftest.py)."""
    import torch  # only these tests read the records; torch loads what the WebUI's torch saved

    before = len(sampling_records(server))
    job = run_job(server, mode, payload)
    new = sampling_records(server)[before:]
    assert len(new) == 1, f"{len(new)} sampling records for one job\n{describe(job, server)}"
    return job, torch.load(new[0], weights_only=True)


def last_denoised(events: list[dict]):
    """The latents after CFG of a recorded job's last step (float64): what the sampler ends on."""
    return [event for event in events if event["kind"] == "denoised"][-1]["x"].double()


def describe(job: Job, server: WebUIServer) -> str:
    body = job.response.body
    answer = {k: v for k, v in body.items() if k != "images"} if isinstance(body, dict) else body
    return (
        f"HTTP {job.response.status} in {job.response.elapsed:.1f}s, {len(job.frames)} images, new GIFs {[p.name for p in job.gifs]}\n"
        f"answer (without images): {str(answer)[:1500]}\n--- WebUI log (tail) ---\n{server.log_tail(40)}"
    )


def assert_animation(job: Job, server: WebUIServer, frames: int, videos: int = 1, seeds: list[int] | None = None) -> list[list[np.ndarray]]:
    """``frames`` images per video, and one new GIF per video holding them; the GIFs' frames."""
    assert job.response.ok, describe(job, server)
    assert len(job.frames) == frames * videos, describe(job, server)
    assert all(frame.shape == (64, 64, 3) for frame in job.frames), [frame.shape for frame in job.frames]
    assert len(job.gifs) == videos, describe(job, server)
    gif_frames = []
    for number, path in enumerate(job.gifs):
        match = GIF_NAME.match(path.name)
        assert match and DATE_FOLDER.match(path.parent.name), f"unexpected GIF path {path}"
        if seeds is not None:
            assert int(match.group(1)) == seeds[number], f"{path.name}: expected seed {seeds[number]}"
        video = read_gif(path)
        assert len(video) == frames, f"{path.name} has {len(video)} frames, expected {frames}"
        assert all(frame.shape == (64, 64, 3) for frame in video), f"{path.name}: frame sizes {[f.shape for f in video]}"
        # the GIF shows this video's frames, in order: each GIF frame is nearest to its own
        # returned frame (the GIF palette costs ~7 grey levels here; neighbours differ by ~40)
        pngs = job.frames[number * frames : (number + 1) * frames]
        errors = [mean_abs_diff(g, p) for g, p in zip(video, pngs)]
        assert max(errors) < 20, f"{path.name} does not show the returned frames: mean |diff| per frame {errors}"
        nearest = [int(np.argmin([mean_abs_diff(g, p) for p in pngs])) for g in video]
        assert nearest == list(range(frames)), f"{path.name}: GIF frames are not the returned frames in order: nearest {nearest}"
        gif_frames.append(video)
    return gif_frames


def assert_plain_unchanged(server: WebUIServer, baseline: tuple[PlainImages, PlainImages], after: str) -> None:
    reference, now = baseline[0], plain_jobs(server)
    problems = []
    for kind in ("txt2img", "img2img"):
        expected, got = getattr(reference, kind), getattr(now, kind)
        if len(expected) != len(got):
            problems.append(f"{kind}: {len(got)} images, expected {len(expected)}")
        for number, (a, b) in enumerate(zip(expected, got)):
            if not np.array_equal(a, b):
                problems.append(f"{kind} image {number}: {difference(a, b)}")
    if problems:  # a setting an earlier test left changed is the first suspect
        changed = {key: (value, now.options.get(key)) for key, value in reference.options.items() if now.options.get(key) != value}
        problems.append(f"settings changed since (before, now): {changed}")
    assert not problems, f"plain jobs after {after} differ from before any AnimateDiff job:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- a catalog on a local server

HF_PATH = "test-publisher/motion-modules/resolve/main"
DOWNLOAD_OPTIONS = ("animatediff_catalog_file", "animatediff_download_mirror")


@contextlib.contextmanager
def settings_restored(server: WebUIServer, defaults: Mapping[str, Any]) -> Iterator[None]:
    """The WebUI's settings ``defaults`` names as they were before the ``with`` block, after it
    (a setting the WebUI does not list yet, as it lists only those in its settings data, is put
    back to the default given). A test that overrides a setting uses it: after the Zero Terminal
    SNR test every later job of the session WebUI ran with that schedule (A1111 did not put the
    override back), which changed the plain-job, schedule and float16 checks run after it."""
    options = server.get("/sdapi/v1/options").body
    before = {key: options.get(key, default) for key, default in defaults.items()}
    try:
        yield
    finally:
        assert server.post("/sdapi/v1/options", before).ok


@contextlib.contextmanager
def download_settings(server: WebUIServer, catalog: Path, mirror: str) -> Iterator[None]:
    """Settings → catalog file and mirror set for the ``with`` block, the earlier ones after it."""
    with settings_restored(server, dict.fromkeys(DOWNLOAD_OPTIONS, "")):
        assert server.post("/sdapi/v1/options", {"animatediff_catalog_file": str(catalog), "animatediff_download_mirror": mirror}).ok
        yield


def write_test_catalog(server_root: Path, catalog_path: Path) -> dict[str, dict]:
    """Random-weight files in the published key layouts under Hugging Face-style paths of
    ``server_root``, and a catalog of them (one entry per case); returns the entries by name."""
    import hashlib

    import torch

    from lib_animatediff.devtools.random_weights import random_motion_modules, save_motion_modules
    from lib_animatediff.model.families import SDXL, V2, V3

    folder = server_root / HF_PATH
    folder.mkdir(parents=True, exist_ok=True)
    save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64)), folder / "mm_test_v2.safetensors")
    save_motion_modules(random_motion_modules(V3, (32, 64, 64, 64)), folder / "mm_test_v3_resumed.safetensors")
    save_motion_modules(random_motion_modules(SDXL, (32, 64, 64)), folder / "mm_test_sdxl.safetensors")
    torch.save({"state_dict": guoyww_motion_lora(lambda c: c // 10)}, folder / "v2_lora_TestZoom.ckpt", _use_new_zipfile_serialization=False)
    (folder / "mm_test_tampered.safetensors").write_bytes((folder / "mm_test_v2.safetensors").read_bytes()[:-8] + b"tampered")
    cases = {
        "mm_test_v2.safetensors": ("motion module", "v2"),
        "mm_test_v3_resumed.safetensors": ("motion module", "v3"),
        "mm_test_sdxl.safetensors": ("motion module", "sdxl"),
        "v2_lora_TestZoom.ckpt": ("motion LoRA", "v2"),
        "mm_test_tampered.safetensors": ("motion module", "v2"),
    }
    entries = {}
    for name, (kind, family) in cases.items():
        data = (folder / name).read_bytes()
        published = data if name != "mm_test_tampered.safetensors" else (folder / "mm_test_v2.safetensors").read_bytes()
        entries[name] = {
            "name": name, "kind": kind, "family": family, "url": f"https://huggingface.co/{HF_PATH}/{name}",
            "size": len(data), "sha256": hashlib.sha256(published).hexdigest(), "licence": "Apache-2.0",
            "publisher": "test publisher", "description": f"random {family} weights for the download tests",
        }  # fmt: skip
    entries["mm_test_missing.safetensors"] = {**entries["mm_test_v2.safetensors"], "name": "mm_test_missing.safetensors",
                                              "url": f"https://huggingface.co/{HF_PATH}/mm_test_missing.safetensors"}  # fmt: skip
    catalog_path.write_text(json.dumps({"files": list(entries.values())}, indent=1))
    return entries


def wait_for_download(server: WebUIServer, name: str, timeout: float = 120) -> dict:
    """The download's last status, once it is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        answer = server.get(f"/animatediff/v1/motion-modules/download/{name}")
        assert answer.ok, answer.text
        if answer.body["state"] != "downloading":
            return answer.body
        assert time.monotonic() < deadline, f"{name} still downloading: {answer.body}"
        time.sleep(0.2)
