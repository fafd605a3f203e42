"""The WebUIs the tests drive: a data folder each, started on a free port, stopped at the end."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from harness_install import FIXTURES, HERE, REPO, WebUIInstall, _offline_env, _run_builder  # noqa: E402
from harness_models import CONTROLNET_MODEL, IP_ADAPTER_MODEL, SPARSECTRL_MODELS, sdxl_refiner_header  # noqa: E402
from webui_api import (  # noqa: E402
    BASE_PAYLOAD,
    EXTENSION_NAME,
    PlainImages,
    WebUIServer,
    extension_source,
    plain_jobs,
)


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
EVERY_SERVERS_EXTENSIONS = ("raise_in_sampling", "extra_pass", "record_sampling", "stop_in_iteration", "img2img_batch_route")


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


def _ui_flags(install: WebUIInstall, ui: bool) -> tuple[str, ...]:
    """The UI, or only the API. Forge's gradio 4 serves files (its own scripts and styles among
    them) only from allowed paths, by default the data dir alone: with a data dir of its own,
    Forge's folder must be allowed too or every one of its scripts answers 403."""
    if not ui:
        return ("--nowebui",)
    return ("--gradio-allowed-path", str(install.root)) if install.is_forge else ()


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
        *_cpu_flags(install, full_precision), "--api", *_ui_flags(install, ui),
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


def _extension_source(install: WebUIInstall, variable: str, folder: str, needs: Sequence[str], tests: str) -> Path:
    """Another extension's source, linked in beside AnimateDiff: ``variable``, else
    ``<WebUI>/../extensions-src/<folder>`` (where tools/setup_webui.sh and setup_forge.sh put it);
    without the files it ``needs`` the ``tests`` are skipped, saying so."""
    configured = os.environ.get(variable)
    source = Path(configured) if configured else install.root.parent / "extensions-src" / folder
    if not all((source / need).is_file() for need in needs):
        pytest.skip(f"{folder} not found at {source} (set {variable}): {tests} tests skipped")
    return source


def _deforum_source(install: WebUIInstall) -> Path:
    film = "scripts/deforum_helpers/src/film_interpolation/film_inference.py"
    return _extension_source(install, "DEFORUM_DIR", "sd-webui-deforum", [film], "Deforum FILM")


@pytest.fixture(scope="module")
def deforum_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A WebUI with sd-webui-deforum installed beside AnimateDiff, for the length of the module."""
    source = _deforum_source(webui_install)
    data = tmp_path_factory.mktemp("webui-deforum")
    with _running_server(webui_install, data, server_files, extensions_beside=(source,)) as server:
        yield server


def _dynamic_prompts_source(install: WebUIInstall) -> Path:
    needs = ["sd_dynamic_prompts/dynamic_prompting.py"]
    source = _extension_source(install, "DYNAMIC_PROMPTS_DIR", "sd-dynamic-prompts", needs, "Dynamic Prompts")
    if subprocess.run([str(install.python), "-c", "import dynamicprompts"], capture_output=True).returncode != 0:
        pytest.skip(f"the dynamicprompts library is not in {install.python}'s environment (tools/setup_webui.sh installs it)")
    return source


@pytest.fixture(scope="module")
def dynamic_prompts_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A WebUI with sd-dynamic-prompts installed beside AnimateDiff, for the length of the module
    (and the test extension that registers its settings, see extensions/dynamic_prompts_settings.py)."""
    source = _dynamic_prompts_source(webui_install)
    data = tmp_path_factory.mktemp("webui-dynamic-prompts")
    extensions = ("dynamic_prompts_settings",)
    with _running_server(webui_install, data, server_files, extensions_beside=(source,), test_extensions=extensions) as server:
        yield server


def _wildcards_source(install: WebUIInstall) -> Path:
    needs = ["scripts/wildcards.py"]
    return _extension_source(install, "WILDCARDS_DIR", "stable-diffusion-webui-wildcards", needs, "Wildcards")


WILDCARD_ANIMALS = ("cat", "fox", "owl", "bird", "frog", "horse", "deer", "wolf")  # __animal__ in the Wildcards server


@pytest.fixture(scope="module")
def wildcards_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A WebUI with A1111's Wildcards extension beside AnimateDiff and a wildcard file
    ``animal.txt`` (``WILDCARD_ANIMALS``) in its ``--wildcards-dir``, for the length of the module."""
    source = _wildcards_source(webui_install)
    data = tmp_path_factory.mktemp("webui-wildcards")
    folder = tmp_path_factory.mktemp("wildcards")
    (folder / "animal.txt").write_text("\n".join(WILDCARD_ANIMALS) + "\n")
    with _running_server(
        webui_install, data, server_files, ("--wildcards-dir", str(folder)), extensions_beside=(source,), test_extensions=("settings_at_start",)
    ) as server:
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



def _controlnet_source(install: WebUIInstall) -> Path:
    needs = [f"scripts/{name}" for name in ("controlnet.py", "cldm.py", "hook.py")]
    return _extension_source(install, "CONTROLNET_DIR", "sd-webui-controlnet", needs, "ControlNet")


@contextlib.contextmanager
def _controlnet_webui(
    install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, files: ServerFiles, source: Path | None, model_dirs: Sequence[Path],
    expected: Sequence[str], extra_args: tuple[str, ...] = (), test_extensions: Sequence[str] = (), ui: bool = False,
    preprocessor_dirs: Sequence[Path] = (),
) -> Iterator[WebUIServer]:
    """A WebUI with a ControlNet beside AnimateDiff (sd-webui-controlnet from ``source``; None:
    Forge's built-in one), the models of ``model_dirs`` in ``<data>/models/ControlNet/`` (and
    Forge's preprocessors' of ``preprocessor_dirs`` in ``<data>/models/ControlNetPreprocessor/``) and the
    test extension that records what it does (sd-webui-controlnet: record_control_hints; Forge:
    record_forge_control) and ``test_extensions``, serving its UI too when ``ui``; fails with the
    log when ControlNet does not list each of ``expected`` (file stems)."""
    data = tmp_path_factory.mktemp("webui-controlnet")
    models = data / "models" / "ControlNet"
    models.mkdir(parents=True)
    for built in (path for folder in model_dirs for path in folder.glob("*.safetensors")):
        (models / built.name).symlink_to(built)
    for built in (path for folder in preprocessor_dirs for path in folder.glob("*.safetensors")):
        (data / "models" / "ControlNetPreprocessor").mkdir(exist_ok=True)
        (data / "models" / "ControlNetPreprocessor" / built.name).symlink_to(built)
    recorders = ("record_control_hints",) if source is not None else ("record_forge_control",)
    beside = (source,) if source is not None else ()
    with _running_server(
        install, data, files, extra_args, extensions_beside=beside, ui=ui, test_extensions=(*recorders, *test_extensions)
    ) as server:
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



@pytest.fixture(scope="module")
def forge_controlnet_server(
    request: pytest.FixtureRequest, webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles
) -> Iterator[WebUIServer]:
    """Forge with its built-in ControlNet, ``CONTROLNET_MODEL`` and ``IP_ADAPTER_MODEL`` in
    ``<data>/models/ControlNet/``, CLIP-H where its IP-Adapter preprocessor looks, and the
    record_forge_control test extension (see extensions/record_forge_control.py)."""
    model_dirs = [request.getfixturevalue("controlnet_model_dir"), request.getfixturevalue("ip_adapter_dir")]
    clip_vision: Path = request.getfixturevalue("clip_vision_h_dir")
    expected = [CONTROLNET_MODEL, IP_ADAPTER_MODEL]
    with _controlnet_webui(webui_install, tmp_path_factory, server_files, None, model_dirs, expected, preprocessor_dirs=[clip_vision]) as server:
        yield server


@pytest.fixture(scope="module")
def reloading_server(webui_install: WebUIInstall, tmp_path_factory: pytest.TempPathFactory, server_files: ServerFiles) -> Iterator[WebUIServer]:
    """A WebUI serving its UI, whose "Reload UI" a test can ask for (extensions/reload_ui_route.py),
    with a ControlNet beside AnimateDiff (A1111: sd-webui-controlnet, which wraps some of the same
    functions; Forge: its own), for the length of the module."""
    source = None if webui_install.is_forge else _controlnet_source(webui_install)
    with _controlnet_webui(webui_install, tmp_path_factory, server_files, source, [], [], test_extensions=("reload_ui_route",), ui=True) as server:
        yield server


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
