"""The WebUI under test (A1111 or Forge), the install that builds the random models, and the cache they are kept in."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]  # the extension's root
FIXTURES = HERE / "fixtures"



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

