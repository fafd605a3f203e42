"""A real WebUI (A1111 v1.10.1, or SD WebUI Forge) with this extension, driven over its HTTP API.

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

The install, the random models and the servers are fixtures in ``harness_install.py``,
``harness_models.py`` and ``harness_servers.py`` beside this file; here are pytest's hooks
(skipping without a WebUI, the host in the report, the requests' timings) and the fixtures' import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # webui_api and the harness modules beside this file, whatever pytest's import mode
    sys.path.insert(0, str(HERE))

from harness_install import *  # noqa: E402,F401,F403 - the fixtures, found by pytest in this module
from harness_models import *  # noqa: E402,F401,F403
from harness_servers import *  # noqa: E402,F401,F403
from webui_api import CURRENT_TEST, REQUEST_LOG, on_forge  # noqa: E402

SKIP_REASON = "SD_WEBUI_DIR not set: real-WebUI tests skipped"


# --------------------------------------------------------------------------- skipping


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "webui: drives a real WebUI (A1111 or Forge) over HTTP (needs SD_WEBUI_DIR)")
    config.addinivalue_line("markers", "a1111_only(reason): needs what only A1111 has; skipped on Forge, saying why")
    config.addinivalue_line("markers", "forge_only(reason): needs what only Forge has; skipped on A1111, saying why")


def pytest_report_header(config: pytest.Config) -> str:
    if not os.environ.get("SD_WEBUI_DIR"):
        return "real WebUI: none (SD_WEBUI_DIR not set)"
    return f"real WebUI: {'SD WebUI Forge' if on_forge() else 'A1111'} at {os.environ['SD_WEBUI_DIR']}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if HERE in Path(str(item.path)).resolve().parents]
    for item in mine:
        item.add_marker(pytest.mark.webui)
    if not os.environ.get("SD_WEBUI_DIR"):
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in mine:
            item.add_marker(skip)
    else:
        host, other = ("Forge", "a1111_only") if on_forge() else ("A1111", "forge_only")
        for item in mine:
            if (marker := item.get_closest_marker(other)) is not None:
                item.add_marker(pytest.mark.skip(reason=f"on {host}: {marker.args[0] if marker.args else other.replace('_', ' ')}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The WebUI requests of the run, with their timings (generation requests only)."""
    jobs = [entry for entry in REQUEST_LOG if entry[2].endswith(("txt2img", "img2img"))]
    if not jobs:
        return
    terminalreporter.section(f"WebUI requests ({'SD WebUI Forge' if on_forge() else 'A1111'})")
    for test, method, path, status, seconds in jobs:
        terminalreporter.write_line(f"{seconds:7.1f}s  HTTP {status}  {method} {path:<20} {test}")
    terminalreporter.write_line(f"{sum(entry[4] for entry in jobs):7.1f}s  in {len(jobs)} generation requests")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    CURRENT_TEST["name"] = item.name  # before its fixtures run, so their requests count too
