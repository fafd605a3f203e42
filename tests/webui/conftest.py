"""A real AUTOMATIC1111 WebUI (v1.10.1) with this extension, driven over its HTTP API.

Set ``SD_WEBUI_DIR`` to the WebUI folder (the one holding ``launch.py``); without it every
test here is skipped. The WebUI runs in its own Python (``SD_WEBUI_PYTHON``, default
``$SD_WEBUI_DIR/venv/bin/python``, else ``$SD_WEBUI_DIR/../venv/bin/python``), offline, on
the CPU, with a fresh data folder per session:

    SD_WEBUI_DIR=/path/to/stable-diffusion-webui .venv/bin/python -m pytest tests/webui -x -q -ra

What the WebUI needs and nobody can download here is built once and kept in
``ANIMATEDIFF_TEST_CACHE`` (default ``~/.cache/animatediff-webui-tests``): an offline
Hugging Face cache with the CLIP tokenizer, a full-size SD 1.5 checkpoint with random
weights (~2 GiB, ~1.5 min and ~5 GiB RAM to build) and a full-size random v2 motion module.
Each lives in a folder named after a hash of its builder, so changing a builder rebuilds it.
``ANIMATEDIFF_WEBUI_START_TIMEOUT`` (seconds, default 180) bounds the server start.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # webui_api beside this file, whatever pytest's import mode
    sys.path.insert(0, str(HERE))

from webui_api import (  # noqa: E402
    ANIMATELCM_MOTION_MODULE,
    BASE_PAYLOAD,
    CHECKPOINT,
    CURRENT_TEST,
    EXTENSION_NAME,
    HOTSHOT_MOTION_MODULE,
    MOTION_MODULE,
    REQUEST_LOG,
    SDXL_CHANNELS,
    SDXL_CHECKPOINT,
    SDXL_MOTION_MODULE,
    SDXL_REFINER,
    SECOND_CHECKPOINT,
    PlainImages,
    WebUIServer,
    extension_source,
    plain_jobs,
)

REPO = HERE.parents[1]  # the extension's root
FIXTURES = HERE / "fixtures"
SKIP_REASON = "SD_WEBUI_DIR not set: real-WebUI tests skipped"


# --------------------------------------------------------------------------- skipping


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "webui: drives a real WebUI (A1111 or Forge) over HTTP (needs SD_WEBUI_DIR)")
    config.addinivalue_line("markers", "a1111_only(reason): needs what only A1111 has; skipped on Forge, saying why")


def _is_forge_dir() -> bool:
    return bool(os.environ.get("SD_WEBUI_DIR")) and (Path(os.environ["SD_WEBUI_DIR"]).expanduser() / "modules_forge").is_dir()


def pytest_report_header(config: pytest.Config) -> str:
    if not os.environ.get("SD_WEBUI_DIR"):
        return "real WebUI: none (SD_WEBUI_DIR not set)"
    return f"real WebUI: {'SD WebUI Forge' if _is_forge_dir() else 'A1111'} at {os.environ['SD_WEBUI_DIR']}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if HERE in Path(str(item.path)).resolve().parents]
    for item in mine:
        item.add_marker(pytest.mark.webui)
    if not os.environ.get("SD_WEBUI_DIR"):
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in mine:
            item.add_marker(skip)
    elif _is_forge_dir():
        for item in mine:
            if (marker := item.get_closest_marker("a1111_only")) is not None:
                item.add_marker(pytest.mark.skip(reason=f"on Forge: {marker.args[0] if marker.args else 'A1111 only'}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The WebUI requests of the run, with their timings (generation requests only)."""
    jobs = [entry for entry in REQUEST_LOG if entry[2].endswith(("txt2img", "img2img"))]
    if not jobs:
        return
    terminalreporter.section(f"WebUI requests ({'SD WebUI Forge' if _is_forge_dir() else 'A1111'})")
    for test, method, path, status, seconds in jobs:
        terminalreporter.write_line(f"{seconds:7.1f}s  HTTP {status}  {method} {path:<20} {test}")
    terminalreporter.write_line(f"{sum(entry[4] for entry in jobs):7.1f}s  in {len(jobs)} generation requests")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    CURRENT_TEST["name"] = item.name  # before its fixtures run, so their requests count too


# --------------------------------------------------------------------------- the install


@dataclass(frozen=True)
class WebUIInstall:
    root: Path  # the folder with launch.py
    python: Path

    @property
    def is_forge(self) -> bool:
        return (self.root / "modules_forge").is_dir()

    @property
    def name(self) -> str:
        return "SD WebUI Forge" if self.is_forge else "A1111"


def _install(root: Path, python_variable: str) -> WebUIInstall:
    if not (root / "launch.py").is_file():
        pytest.fail(f"{root} holds no launch.py; point it at the WebUI folder (stable-diffusion-webui or stable-diffusion-webui-forge)")
    candidates = [Path(os.environ[python_variable])] if os.environ.get(python_variable) else [
        root / "venv" / "bin" / "python",
        root.parent / "venv" / "bin" / "python",
    ]
    for python in candidates:
        if python.is_file():
            return WebUIInstall(root, python)
    pytest.fail(f"no Python for the WebUI at {root}: tried {', '.join(map(str, candidates))}; set {python_variable}")


@pytest.fixture(scope="session")
def webui_install() -> WebUIInstall:
    return _install(Path(os.environ["SD_WEBUI_DIR"]).expanduser().resolve(), "SD_WEBUI_PYTHON")


@pytest.fixture(scope="session")
def fixture_builder(webui_install: WebUIInstall) -> WebUIInstall:
    """The A1111 install whose Python and ldm build the random models: the WebUI under test,
    or for Forge (which has no ldm) the A1111 folder in ANIMATEDIFF_FIXTURE_WEBUI_DIR."""
    if not webui_install.is_forge:
        return webui_install
    folder = os.environ.get("ANIMATEDIFF_FIXTURE_WEBUI_DIR")
    if not folder:
        pytest.fail("SD_WEBUI_DIR is a Forge folder: set ANIMATEDIFF_FIXTURE_WEBUI_DIR to an A1111 folder (tools/setup_webui.sh) to build the random models")
    return _install(Path(folder).expanduser().resolve(), "ANIMATEDIFF_FIXTURE_WEBUI_PYTHON")


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    path = Path(os.environ.get("ANIMATEDIFF_TEST_CACHE") or Path.home() / ".cache" / "animatediff-webui-tests").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def _cached(cache: Path, name: str, key: str, build: Callable[[Path], None]) -> Path:
    """``cache/name-key/``, built by ``build(folder)`` into a temporary folder the first time."""
    final = cache / f"{name}-{key}"
    if (final / ".complete").is_file():
        return final
    staging = cache / f".{name}-{key}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        start = time.monotonic()
        build(staging)
        (staging / ".complete").write_text(f"built in {time.monotonic() - start:.1f}s\n")
        if final.exists():  # a half-built leftover (no .complete), or a concurrent build
            if (final / ".complete").is_file():
                return final
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _run_builder(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 1200) -> None:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(
            f"fixture builder failed (exit {result.returncode}): {' '.join(command)}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )


def _offline_env(hf_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(hf_home))
    env.pop("COMMANDLINE_ARGS", None)  # launch.py would append it to our flags
    env.pop("PYTHONPATH", None)  # the repo venv's paths are no business of the WebUI's Python
    return env


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


@pytest.fixture(scope="session")
def sdxl_checkpoint(fixture_builder: WebUIInstall, cache_dir: Path, hf_home: Path) -> Path:
    """A small random checkpoint of SDXL's architecture (its yaml beside it) and the SDXL
    preview model A1111 would otherwise try to download; see fixtures/make_sdxl_checkpoint.py."""
    builder = FIXTURES / "make_sdxl_checkpoint.py"
    key = _digest(builder.read_bytes(), *_shared_builder_bytes())

    def build(folder: Path) -> None:
        command = [
            str(fixture_builder.python), str(builder), "--webui", str(fixture_builder.root),
            "--out", str(folder / SDXL_CHECKPOINT), "--vae-approx", str(folder / "vaeapprox-sdxl.pt"),
        ]  # fmt: skip
        _run_builder(command, env=_offline_env(hf_home))

    return _cached(cache_dir, "sdxl", key, build) / SDXL_CHECKPOINT


@pytest.fixture(scope="session")
def sdxl_motion_module_dir(fixture_builder: WebUIInstall, cache_dir: Path) -> Path:
    """AnimateDiff-SDXL and HotShot-XL (native naming) modules for the small SDXL UNet."""
    sources = _module_builder_sources()
    key = _digest("sdxl-modules", SDXL_CHANNELS, *(path.read_bytes() for path in sources))

    def build(folder: Path) -> None:
        for family, name, naming in (("sdxl", SDXL_MOTION_MODULE, "animatediff"), ("hotshotxl", HOTSHOT_MOTION_MODULE, "hotshot")):
            command = [str(fixture_builder.python), "-m", "lib_animatediff", "make-random", "--family", family, "--channels",
                       SDXL_CHANNELS, "--naming", naming, "--dtype", "float16", str(folder / name)]  # fmt: skip
            _run_builder(command, env=_offline_env(folder), cwd=REPO)

    return _cached(cache_dir, "sdxl_motion_modules", key, build)


# --------------------------------------------------------------------------- the server









def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class ServerFiles:
    """Everything built for a WebUI data folder."""

    hf_home: Path
    checkpoints: tuple[Path, ...]  # the first is loaded at start
    vae_approx: Path
    motion_modules: tuple[Path, ...]


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


@pytest.fixture(scope="session")
def extension_requirements(webui_install: WebUIInstall) -> None:
    """What install.py would install at start-up, which --skip-prepare-environment skips."""
    check = [str(webui_install.python), str(REPO / "install.py"), "--check"]
    if subprocess.run(check, capture_output=True, text=True).returncode != 0:
        _run_builder([str(webui_install.python), "-m", "pip", "install", "-q", "-r", str(REPO / "requirements.txt")])


@pytest.fixture(scope="session")
def server_files(
    extension_requirements: None,
    hf_home: Path,
    sd15_checkpoint: Path,
    sdxl_checkpoint: Path,
    motion_module_dir: Path,
    sdxl_motion_module_dir: Path,
    animatelcm_module_dir: Path,
) -> ServerFiles:
    return ServerFiles(
        hf_home=hf_home,
        checkpoints=(sd15_checkpoint, sdxl_checkpoint, sdxl_checkpoint.with_suffix(".yaml")),
        vae_approx=sdxl_checkpoint.parent / "vaeapprox-sdxl.pt",
        motion_modules=tuple(
            sorted(path for folder in (motion_module_dir, sdxl_motion_module_dir, animatelcm_module_dir) for path in folder.glob("*.safetensors"))
        ),
    )


# in every test WebUI (see each file in extensions/)
EVERY_SERVERS_EXTENSIONS = ("raise_in_sampling", "extra_pass", "record_sampling", "stop_in_iteration")


def _data_dir(
    data: Path, files: ServerFiles, extensions_beside: tuple[Path, ...] = (), test_extensions: Sequence[str] = ()
) -> tuple[Path, Path]:
    """Lay out a fresh data folder; returns (checkpoint to load, motion-module folder).
    The test extensions every server has, and ``test_extensions`` (names of files in
    ``extensions/``), are installed beside AnimateDiff."""
    checkpoints = data / "models" / "Stable-diffusion"
    checkpoints.mkdir(parents=True)
    for built in files.checkpoints:
        (checkpoints / built.name).symlink_to(built)
    (data / "models" / "VAE-approx").mkdir()
    (data / "models" / "VAE-approx" / files.vae_approx.name).symlink_to(files.vae_approx)
    motion_modules = data / "motion_modules"
    motion_modules.mkdir()
    for built in files.motion_modules:
        (motion_modules / built.name).symlink_to(built)
    extensions = data / "extensions"
    extensions.mkdir()
    (extensions / EXTENSION_NAME).symlink_to(REPO, target_is_directory=True)
    for other in extensions_beside:
        (extensions / other.name).symlink_to(other, target_is_directory=True)
    for name in dict.fromkeys([*EVERY_SERVERS_EXTENSIONS, *test_extensions]):
        (extensions / name / "scripts").mkdir(parents=True)
        (extensions / name / "scripts" / f"{name}.py").write_text(extension_source(name))
    return checkpoints / files.checkpoints[0].name, motion_modules


def _cpu_flags(install: WebUIInstall, full_precision: bool) -> tuple[str, ...]:
    """On the CPU, in float32 unless not ``full_precision`` (Forge: --use-cpu fails at import, and
    its text encoder and VAE default to float16 there)."""
    if install.is_forge:
        return ("--always-cpu", *(("--all-in-fp32",) if full_precision else ()))
    return ("--use-cpu", "all", *(("--no-half", "--precision", "full") if full_precision else ()))


@contextlib.contextmanager
def _running_server(
    install: WebUIInstall,
    data: Path,
    files: ServerFiles,
    extra_args: tuple[str, ...] = (),
    extensions_beside: tuple[Path, ...] = (),
    ui: bool = False,
    test_extensions: Sequence[str] = (),
    full_precision: bool = True,
) -> Iterator[WebUIServer]:
    """A WebUI on a free port for the ``with`` block. API only, unless ``ui``: then the gradio
    UI is served too, on the same port (building it costs start-up time the API tests skip).
    ``full_precision`` False starts it as users run it on a GPU: the UNet in float16."""
    checkpoint, motion_modules = _data_dir(data, files, extensions_beside, test_extensions)
    port = _free_port()
    log_path = data / "webui.log"
    command = [
        str(install.python), "launch.py",
        "--data-dir", str(data), "--server-name", "127.0.0.1", "--port", str(port),
        "--skip-prepare-environment", "--skip-torch-cuda-test", "--skip-version-check",
        *_cpu_flags(install, full_precision), "--api", *(() if ui else ("--nowebui",)),
        "--no-download-sd-model", "--ckpt", str(checkpoint),
        "--animatediff-model-dir", str(motion_modules), *extra_args,
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=install.root, env=_offline_env(files.hf_home), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    atexit.register(_stop, process)  # in case pytest dies before the finaliser runs
    server = WebUIServer(f"http://127.0.0.1:{port}", data, log_path, process)
    try:
        _wait_until_ready(server, float(os.environ.get("ANIMATEDIFF_WEBUI_START_TIMEOUT", "180")))
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def webui_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    with _running_server(webui_install, tmp_path_factory.mktemp("webui-data"), server_files) as server:
        yield server


@pytest.fixture(scope="module")
def checkpoints_server(
    webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles, second_sd15_checkpoint: Path
) -> Iterator[WebUIServer]:
    """A WebUI with a second SD 1.5 checkpoint and an SDXL refiner beside the usual ones."""
    refiner = sdxl_refiner_header(tmp_path_factory.mktemp("refiner"))
    files = dataclasses.replace(server_files, checkpoints=(*server_files.checkpoints, second_sd15_checkpoint, refiner))
    with _running_server(webui_install, tmp_path_factory.mktemp("webui-checkpoints"), files) as server:
        yield server


@pytest.fixture(scope="module")
def medvram_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A second WebUI, started with --medvram: A1111 then moves UNet blocks between devices
    with hooks, for the length of the module that uses it."""
    with _running_server(webui_install, tmp_path_factory.mktemp("webui-medvram"), server_files, ("--medvram",)) as server:
        yield server



# the VAE in float32 (--no-half-vae, common with float16 UNets): float16 convolutions on a CPU
# take about a minute per 64×64 image, and the VAE is not what these tests are about
HALF_PRECISION_MODES = {"float16": ("--no-half-vae",), "upcast-sampling": ("--no-half-vae", "--upcast-sampling")}


@pytest.fixture(scope="module", params=list(HALF_PRECISION_MODES))
def half_server(
    request: pytest.FixtureRequest, webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles
) -> Iterator[WebUIServer]:
    """A WebUI without --no-half (the UNet in float16, as on a GPU), plain and with
    --upcast-sampling, for the length of the module that uses it."""
    data = tmp_path_factory.mktemp(f"webui-{request.param}")
    with _running_server(
        webui_install, data, server_files, HALF_PRECISION_MODES[request.param],
        test_extensions=("half_on_cpu",), full_precision=False,
    ) as server:  # fmt: skip
        yield server


@pytest.fixture(scope="module")
def fp8_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A WebUI of its own for switching Settings → FP8 weight on and off (each switch reloads
    the checkpoint), for the length of the module that uses it."""
    with _running_server(webui_install, tmp_path_factory.mktemp("webui-fp8"), server_files) as server:
        yield server


@pytest.fixture(scope="module")
def ui_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A WebUI serving the gradio UI as well as the API, for a browser to drive, for the
    length of the module that uses it."""
    with _running_server(webui_install, tmp_path_factory.mktemp("webui-ui"), server_files, ui=True) as server:
        yield server


def _deforum_source(install: WebUIInstall) -> Path:
    """sd-webui-deforum's source: ``DEFORUM_DIR``, else where tools/setup_webui.sh puts it."""
    configured = os.environ.get("DEFORUM_DIR")
    source = Path(configured) if configured else install.root.parent / "extensions-src" / "sd-webui-deforum"
    if not (source / "scripts" / "deforum_helpers" / "src" / "film_interpolation" / "film_inference.py").is_file():
        pytest.skip(f"sd-webui-deforum not found at {source} (set DEFORUM_DIR): Deforum FILM tests skipped")
    return source


@pytest.fixture(scope="module")
def deforum_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A WebUI with sd-webui-deforum installed beside AnimateDiff, for the length of the module."""
    source = _deforum_source(webui_install)
    data = tmp_path_factory.mktemp("webui-deforum")
    with _running_server(webui_install, data, server_files, extensions_beside=(source,)) as server:
        yield server


def _wait_until_ready(server: WebUIServer, timeout: float) -> None:
    """Until the API answers and the checkpoint is loaded (a 1-step warm-up txt2img works)."""
    start = time.monotonic()
    deadline = start + timeout

    def fail(why: str) -> None:
        pytest.fail(f"WebUI not ready after {time.monotonic() - start:.0f}s: {why}\n--- {server.log_path} (tail) ---\n{server.log_tail(80)}")

    while True:
        if not server.alive():
            fail(f"the server exited with code {server.process.returncode}")
        if time.monotonic() > deadline:
            fail("GET /sdapi/v1/options never answered")
        if "Startup time:" not in server.log_text():
            # with the UI, gradio serves before A1111 adds its API; a request in between makes
            # starlette build its middleware stack, and A1111's start then fails adding more
            time.sleep(1)
            continue
        try:
            if server.get("/sdapi/v1/options", timeout=5).ok:
                break
        except OSError:
            pass
        time.sleep(1)
    warm_up = dict(BASE_PAYLOAD, steps=1, prompt="warm-up")
    try:
        answer = server.post("/sdapi/v1/txt2img", warm_up, timeout=max(5.0, deadline - time.monotonic()))
    except OSError as error:
        fail(f"warm-up txt2img: {error!r}")
    if not answer.ok or len(answer.body.get("images") or []) != 1:
        fail(f"warm-up txt2img answered HTTP {answer.status}: {answer.text[:1000]}")
    print(f"\nWebUI ready at {server.url} in {time.monotonic() - start:.1f}s (data dir {server.data_dir})")


@pytest.fixture(scope="session")
def animatediff_loaded(webui_server: WebUIServer) -> WebUIServer:
    """The server, after checking that the WebUI loaded the AnimateDiff script."""
    answer = webui_server.get("/sdapi/v1/scripts")
    assert answer.ok, f"GET /sdapi/v1/scripts: HTTP {answer.status}: {answer.text[:500]}"
    for mode in ("txt2img", "img2img"):
        if "animatediff" not in [name.lower() for name in answer.body.get(mode, [])]:
            pytest.fail(f"AnimateDiff is not among the {mode} scripts {answer.body.get(mode)}\n--- log tail ---\n{webui_server.log_tail(80)}")
    return webui_server


@pytest.fixture(scope="session")
def baseline(webui_server: WebUIServer) -> tuple[PlainImages, PlainImages]:
    """The plain jobs, twice, before any AnimateDiff job of the session (every fixture and
    test that runs one depends on this)."""
    return plain_jobs(webui_server), plain_jobs(webui_server)


@pytest.fixture(scope="session")
def server(animatediff_loaded: WebUIServer, baseline: tuple[PlainImages, PlainImages]) -> WebUIServer:
    """The server, with the plain-job baseline taken before any AnimateDiff job."""
    return animatediff_loaded


# --------------------------------------------------------------------------- ControlNet beside AnimateDiff

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


def _controlnet_source(install: WebUIInstall) -> Path:
    """sd-webui-controlnet's source: ``CONTROLNET_DIR``, else where tools/setup_webui.sh puts it."""
    configured = os.environ.get("CONTROLNET_DIR")
    source = Path(configured) if configured else install.root.parent / "extensions-src" / "sd-webui-controlnet"
    if not all((source / "scripts" / name).is_file() for name in ("controlnet.py", "cldm.py", "hook.py")):
        pytest.skip(f"sd-webui-controlnet not found at {source} (set CONTROLNET_DIR): ControlNet tests skipped")
    return source


@contextlib.contextmanager
def _controlnet_webui(
    install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, files: ServerFiles, source: Path, model_dirs: Sequence[Path],
    expected: Sequence[str], extra_args: tuple[str, ...] = (), test_extensions: Sequence[str] = (),
) -> Iterator[WebUIServer]:
    """A WebUI with sd-webui-controlnet beside AnimateDiff, the models of ``model_dirs`` in
    ``<data>/models/ControlNet/`` and the record_control_hints, img2img_batch_route and
    record_sampling test extensions (and ``test_extensions``); fails with the log when ControlNet
    does not list each of ``expected`` (file stems)."""
    data = tmp_path_factory.mktemp("webui-controlnet")
    models = data / "models" / "ControlNet"
    models.mkdir(parents=True)
    for built in (path for folder in model_dirs for path in folder.glob("*.safetensors")):
        (models / built.name).symlink_to(built)
    extensions = ("record_control_hints", "img2img_batch_route", *test_extensions)
    with _running_server(install, data, files, extra_args, extensions_beside=(source,), test_extensions=extensions) as server:
        answer = server.get("/controlnet/model_list")
        listed = answer.body.get("model_list", []) if answer.ok and isinstance(answer.body, dict) else []
        missing = [stem for stem in expected if not any(name.split(" [")[0] == stem for name in listed)]
        if missing:
            pytest.fail(f"GET /controlnet/model_list: HTTP {answer.status}, {answer.text[:500]}: {missing} not listed\n"
                        f"--- {server.log_path} (tail) ---\n{server.log_tail(80)}")  # fmt: skip
        yield server


@pytest.fixture(scope="module")
def controlnet_server(
    request: pytest.FixtureRequest, webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles
) -> Iterator[WebUIServer]:
    """A WebUI with sd-webui-controlnet installed beside AnimateDiff, ``CONTROLNET_MODEL`` in
    ``<data>/models/ControlNet/`` and the record_control_hints test extension (every ControlNet
    forward appends a line to ``<data>/control_hints.jsonl``; see extensions/record_control_hints.py),
    for the length of the module."""
    source = _controlnet_source(webui_install)  # skip before building anything
    model_dir: Path = request.getfixturevalue("controlnet_model_dir")
    with _controlnet_webui(webui_install, tmp_path_factory, server_files, source, [model_dir], [CONTROLNET_MODEL]) as server:
        yield server


IP_ADAPTER_MODEL = "ip-adapter_sd15"  # the file's stem, which sd-webui-controlnet's presets know



@pytest.fixture(scope="session")
def ip_adapter_dir(cache_dir: Path) -> Path:
    """``IP_ADAPTER_MODEL.safetensors`` (random, in the published layout) and
    ``annotator/clip_vision/clip_h.pth``; see fixtures/make_ip_adapter.py."""
    builder = FIXTURES / "make_ip_adapter.py"

    def build(folder: Path) -> None:
        _run_builder([sys.executable, str(builder), "--out", str(folder)])

    return _cached(cache_dir, "ip_adapter", _digest(builder.read_bytes()), build)


@pytest.fixture(scope="module")
def ip_adapter_server(
    webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles, ip_adapter_dir: Path
) -> Iterator[WebUIServer]:
    """A WebUI with sd-webui-controlnet, the random IP-Adapter and CLIP-H's file where its
    preprocessor looks (so nothing is downloaded), recording every IP-Adapter attention call."""
    source = _controlnet_source(webui_install)
    args = ("--controlnet-annotator-models-path", str(ip_adapter_dir / "annotator"))
    extensions = ("record_ip_adapter",)
    with _controlnet_webui(webui_install, tmp_path_factory, server_files, source, [ip_adapter_dir], [IP_ADAPTER_MODEL], args, extensions) as server:
        yield server


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


@pytest.fixture(scope="module")
def sparsectrl_server(
    request: pytest.FixtureRequest, webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles
) -> Iterator[WebUIServer]:
    """A WebUI with sd-webui-controlnet and the two SparseCtrl models (``SPARSECTRL_MODELS``),
    recording what every ControlNet forward receives, for the length of the module."""
    source = _controlnet_source(webui_install)
    model_dir: Path = request.getfixturevalue("sparsectrl_model_dir")
    with _controlnet_webui(webui_install, tmp_path_factory, server_files, source, [model_dir], list(SPARSECTRL_MODELS.values())) as server:
        yield server


@pytest.fixture(scope="module")
def controlnet_model(controlnet_server: WebUIServer) -> str:
    """``CONTROLNET_MODEL`` as GET /controlnet/model_list names it (``"<stem> [<hash>]"``)."""
    listed = controlnet_server.get("/controlnet/model_list").body["model_list"]
    return next(name for name in listed if name.split(" [")[0] == CONTROLNET_MODEL)
