"""The random models the WebUI loads, each built once by the fixture builder's Python and cached by a hash of its builder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from harness_install import FIXTURES, REPO, WebUIInstall, _cached, _digest, _offline_env, _run_builder  # noqa: E402
from webui_api import (  # noqa: E402
    ANIMATELCM_MOTION_MODULE,
    CHECKPOINT,
    FORGE_SDXL_CHANNELS,
    HOTSHOT_MOTION_MODULE,
    MOTION_MODULE,
    SDXL_CHANNELS,
    SDXL_CHECKPOINT,
    SDXL_MOTION_MODULE,
    SDXL_REFINER,
    SECOND_CHECKPOINT,
)


@pytest.fixture(scope="session")
def hf_home(fixture_builder: WebUIInstall, cache_dir: Path) -> Path:
    builder = FIXTURES / "make_clip_cache.py"

    def build(folder: Path) -> None:
        _run_builder([str(fixture_builder.python), str(builder), str(folder)], env=_offline_env(folder))

    return _cached(cache_dir, "hf_home", _digest(builder.read_bytes()), build)


@pytest.fixture(scope="session")
def sd15_checkpoint(fixture_builder: WebUIInstall, cache_dir: Path, hf_home: Path) -> Path:
    builder = FIXTURES / "make_sd15_checkpoint.py"
    config = fixture_builder.root / "configs" / "v1-inference.yaml"
    key = _digest(builder.read_bytes(), *_shared_builder_bytes(), config.read_bytes())

    def build(folder: Path) -> None:
        command = [str(fixture_builder.python), str(builder), "--webui", str(fixture_builder.root), "--out", str(folder / CHECKPOINT)]
        _run_builder(command, env=_offline_env(hf_home))

    return _cached(cache_dir, "sd15", key, build) / CHECKPOINT


@pytest.fixture(scope="session")
def second_sd15_checkpoint(fixture_builder: WebUIInstall, cache_dir: Path, hf_home: Path) -> Path:
    """Another full-size random SD 1.5 checkpoint (seed 1): what Hires. fix's checkpoint and
    the refiner switch to."""
    builder = FIXTURES / "make_sd15_checkpoint.py"
    config = fixture_builder.root / "configs" / "v1-inference.yaml"
    key = _digest(builder.read_bytes(), *_shared_builder_bytes(), config.read_bytes(), "seed 1")

    def build(folder: Path) -> None:
        command = [str(fixture_builder.python), str(builder), "--webui", str(fixture_builder.root),
                   "--out", str(folder / SECOND_CHECKPOINT), "--seed", "1"]  # fmt: skip
        _run_builder(command, env=_offline_env(hf_home))

    return _cached(cache_dir, "sd15_seed1", key, build) / SECOND_CHECKPOINT


def sdxl_refiner_header(folder: Path) -> Path:
    """A file with the keys and shapes that make a checkpoint the SDXL refiner (4 levels from
    384 channels, text encoder under ``conditioner.``), no real weights: what AnimateDiff reads
    to refuse it before A1111 would ever load it."""
    import torch
    from safetensors.torch import save_file

    tensors = {f"model.diffusion_model.input_blocks.{i}.0.bias": torch.zeros(1) for i in range(12)}
    tensors["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(384, 4, 3, 3)
    tensors["conditioner.embedders.0.model.ln_final.weight"] = torch.zeros(1)
    path = folder / SDXL_REFINER
    save_file(tensors, str(path))
    return path


def _shared_builder_bytes() -> list[bytes]:
    """What every checkpoint builder also depends on, so a change to it rebuilds them."""
    return [(FIXTURES / name).read_bytes() for name in ("make_clip_cache.py", "offline_models.py")]


def _module_builder_sources() -> list[Path]:
    """What ``python -m lib_animatediff make-random`` runs: a change to them rebuilds the modules."""
    library = REPO / "lib_animatediff"
    top = [library / name for name in ("__init__.py", "cli.py", "errors.py", "log.py")]
    return sorted([*top, *(library / "model").rglob("*.py"), *(library / "devtools").rglob("*.py")])


def _reference_dir() -> Path:
    return Path(os.environ.get("ANIMATEDIFF_REFERENCE_DIR") or REPO.parent / "shared" / "reference")


@pytest.fixture(scope="session")
def motion_module_dir(fixture_builder: WebUIInstall, cache_dir: Path) -> Path:
    """A folder holding only MOTION_MODULE: full-size SD 1.5 v2 layout, random fp16 weights.

    Built from the published layout in the reference data, independently of the extension's
    code; without the reference data, with the extension's own ``make-random`` command.
    """
    layout = _reference_dir() / "layouts" / "v2.json"
    if layout.is_file():
        builder = FIXTURES / "make_motion_module.py"
        key = _digest(builder.read_bytes(), layout.read_bytes())

        def build(folder: Path) -> None:
            command = [str(fixture_builder.python), str(builder), "--layout", str(layout), "--out", str(folder / MOTION_MODULE)]
            _run_builder(command, env=_offline_env(folder))

    else:
        sources = _module_builder_sources()
        key = _digest("cli", *(path.read_bytes() for path in sources))

        def build(folder: Path) -> None:
            command = [str(fixture_builder.python), "-m", "lib_animatediff", "make-random", "--family", "v2",
                       "--channels", "320,640,1280,1280", "--dtype", "float16", str(folder / MOTION_MODULE)]
            _run_builder(command, env=_offline_env(folder), cwd=REPO)

    return _cached(cache_dir, "motion_module", key, build)


# Forge recognises SDXL only at SDXL's widths: there the test SDXL is Segmind-Vega-shaped
# (every SDXL width, a third of its UNet; see fixtures/make_sdxl_checkpoint.py), on A1111 a
# reduced SDXL that its yaml describes.
FORGE_SDXL = ["--model-channels", "320", "--head-channels", "64", "--clip-g-arch", "ViT-bigG-14", "--vae", "full",
              "--transformer-depth", "0,1,2"]  # fmt: skip


@pytest.fixture(scope="session")
def sdxl_channels(webui_install: WebUIInstall) -> str:
    """The UNet level widths of the test SDXL on the WebUI under test (what its motion modules are built for)."""
    return FORGE_SDXL_CHANNELS if webui_install.is_forge else SDXL_CHANNELS


@pytest.fixture(scope="session")
def sdxl_checkpoint(webui_install: WebUIInstall, fixture_builder: WebUIInstall, cache_dir: Path, hf_home: Path) -> Path:
    """A random checkpoint of SDXL's architecture (its yaml beside it) and the SDXL preview
    model A1111 would otherwise try to download; see fixtures/make_sdxl_checkpoint.py."""
    builder = FIXTURES / "make_sdxl_checkpoint.py"
    shape = FORGE_SDXL if webui_install.is_forge else []
    key = _digest(builder.read_bytes(), *_shared_builder_bytes(), *shape)

    def build(folder: Path) -> None:
        command = [
            str(fixture_builder.python), str(builder), "--webui", str(fixture_builder.root),
            "--out", str(folder / SDXL_CHECKPOINT), "--vae-approx", str(folder / "vaeapprox-sdxl.pt"), *shape,
        ]  # fmt: skip
        _run_builder(command, env=_offline_env(hf_home))

    return _cached(cache_dir, "sdxl-forge" if shape else "sdxl", key, build) / SDXL_CHECKPOINT


@pytest.fixture(scope="session")
def sdxl_motion_module_dir(fixture_builder: WebUIInstall, cache_dir: Path, sdxl_channels: str) -> Path:
    """AnimateDiff-SDXL and HotShot-XL (native naming) modules for the test SDXL's UNet."""
    sources = _module_builder_sources()
    key = _digest("sdxl-modules", sdxl_channels, *(path.read_bytes() for path in sources))

    def build(folder: Path) -> None:
        for family, name, naming in (("sdxl", SDXL_MOTION_MODULE, "animatediff"), ("hotshotxl", HOTSHOT_MOTION_MODULE, "hotshot")):
            command = [str(fixture_builder.python), "-m", "lib_animatediff", "make-random", "--family", family, "--channels",
                       sdxl_channels, "--naming", naming, "--dtype", "float16", str(folder / name)]  # fmt: skip
            _run_builder(command, env=_offline_env(folder), cwd=REPO)

    return _cached(cache_dir, "sdxl_motion_modules", key, build)



@pytest.fixture(scope="session")
def animatelcm_module_dir(fixture_builder: WebUIInstall, cache_dir: Path) -> Path:
    """A full-size AnimateLCM module (SD 1.5 layout, no stored positional encodings), random fp16."""
    sources = _module_builder_sources()
    key = _digest("animatelcm", *(path.read_bytes() for path in sources))

    def build(folder: Path) -> None:
        command = [str(fixture_builder.python), "-m", "lib_animatediff", "make-random", "--family", "animatelcm",
                   "--channels", "320,640,1280,1280", "--dtype", "float16", str(folder / ANIMATELCM_MOTION_MODULE)]  # fmt: skip
        _run_builder(command, env=_offline_env(folder), cwd=REPO)

    return _cached(cache_dir, "animatelcm_module", key, build)


CONTROLNET_MODEL = "control_v11p_sd15_random"  # the file's stem; the API takes it with or without " [hash]"




@pytest.fixture(scope="session")
def controlnet_model_dir(fixture_builder: WebUIInstall, cache_dir: Path) -> Path:
    """A folder holding only ``CONTROLNET_MODEL.safetensors``: an SD 1.5 ControlNet in the layout
    of the published control_v11p_sd15_canny (``control_model.*`` keys, fp16), random weights with
    nothing left at zero; see fixtures/make_controlnet_model.py (~1 min and ~4 GiB RAM to build)."""
    builder = FIXTURES / "make_controlnet_model.py"
    config = fixture_builder.root / "configs" / "v1-inference.yaml"
    key = _digest(builder.read_bytes(), (FIXTURES / "offline_models.py").read_bytes(), config.read_bytes())

    def build(folder: Path) -> None:
        command = [str(fixture_builder.python), str(builder), "--webui", str(fixture_builder.root),
                   "--out", str(folder / f"{CONTROLNET_MODEL}.safetensors")]  # fmt: skip
        _run_builder(command, env=_offline_env(folder))

    return _cached(cache_dir, "controlnet", key, build)


IP_ADAPTER_MODEL = "ip-adapter_sd15"  # the file's stem, which sd-webui-controlnet's presets know



@pytest.fixture(scope="session")
def ip_adapter_dir(cache_dir: Path) -> Path:
    """``IP_ADAPTER_MODEL.safetensors`` (random, in the published layout) and
    ``annotator/clip_vision/clip_h.pth``; see fixtures/make_ip_adapter.py."""
    builder = FIXTURES / "make_ip_adapter.py"

    def build(folder: Path) -> None:
        _run_builder([sys.executable, str(builder), "--out", str(folder)])

    return _cached(cache_dir, "ip_adapter", _digest(builder.read_bytes()), build)


@pytest.fixture(scope="session")
def clip_vision_h_dir(cache_dir: Path) -> Path:
    """``CLIP-ViT-H-14.safetensors``: a whole random CLIP-H image encoder under the name Forge's
    IP-Adapter preprocessor reads; see fixtures/make_clip_vision_h.py."""
    builder = FIXTURES / "make_clip_vision_h.py"

    def build(folder: Path) -> None:
        _run_builder([sys.executable, str(builder), "--out", str(folder)])

    return _cached(cache_dir, "clip_vision_h", _digest(builder.read_bytes()), build)



SPARSECTRL_MODELS = {"rgb": "mm_sd15_v3_sparsectrl_rgb_random", "scribble": "mm_sd15_v3_sparsectrl_scribble_random"}


@pytest.fixture(scope="session")
def sparsectrl_model_dir(fixture_builder: WebUIInstall, cache_dir: Path) -> Path:
    """Full-size SparseCtrl models, rgb and scribble, random fp16, in the A1111 layout
    sd-webui-controlnet loads; see fixtures/make_sparsectrl_model.py (~1 GB each)."""
    builders = [FIXTURES / name for name in ("make_sparsectrl_model.py", "make_controlnet_model.py", "offline_models.py")]
    sources = [*builders, REPO / "lib_animatediff" / "model" / "sparsectrl.py", REPO / "lib_animatediff" / "model" / "motion_module.py"]
    key = _digest(*(path.read_bytes() for path in sources), (fixture_builder.root / "configs" / "v1-inference.yaml").read_bytes())

    def build(folder: Path) -> None:
        for kind, stem in SPARSECTRL_MODELS.items():
            command = [str(fixture_builder.python), str(builders[0]), "--webui", str(fixture_builder.root), "--kind", kind,
                       "--out", str(folder / f"{stem}.safetensors")]  # fmt: skip
            _run_builder(command, env=_offline_env(folder), cwd=FIXTURES)

    return _cached(cache_dir, "sparsectrl", key, build)

