"""Settings → "Reload UI" with a ControlNet beside AnimateDiff.

The one change the extension keeps in the WebUI between jobs is its wrapper of the img2img
Batch tab's loop, which sd-webui-controlnet wraps too (keeping the function it found and putting
it back on unload). A reload unloads and executes both extensions' scripts again: the Batch tab
must still hand a run with AnimateDiff on over as one animation and run image by image without
it, reload after reload, through the same wrappers. The WebUI unloads scripts newest first
unless the user (Settings → Callbacks) or an extension's metadata orders it otherwise; the
second case has AnimateDiff's unload run before sd-webui-controlnet's, while its wrapper is
still inside sd-webui-controlnet's.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from webui_api import (
    IMG2IMG_BATCH_ROUTE,
    WebUIServer,
    animatediff,
    batch_tab_animation,
    extension_constant,
    flat_frames,
    settings_restored,
    txt2img_payload,
)

RELOAD_ROUTE = extension_constant("reload_ui_route", "ROUTE")
UNLOAD_CALLBACKS_ROUTE = extension_constant("reload_ui_route", "UNLOAD_CALLBACKS_ROUTE")
UNLOAD_ORDER = "prioritized_callbacks_script_unloaded"  # Settings → Callbacks
FRAMES = 4


def _reload(server: WebUIServer, timeout: float = 600) -> None:
    """Reload UI, then wait until the new app's API answers."""
    starts = server.log_text().count("Startup time:")
    answer = server.post(RELOAD_ROUTE, {})
    assert answer.ok, f"HTTP {answer.status}: {answer.text[:500]}"
    deadline = time.monotonic() + timeout
    while server.log_text().count("Startup time:") == starts or not _answers(server):
        assert server.alive() and time.monotonic() < deadline, f"no WebUI after Reload UI\n{server.log_tail(60)}"
        time.sleep(1)


def _answers(server: WebUIServer) -> bool:
    try:
        return server.get("/sdapi/v1/options", timeout=5).ok
    except OSError:
        return False


def _unload_callbacks(server: WebUIServer) -> list[str]:
    """The script-unloaded callbacks' names, in the order a reload would call them now."""
    return server.get(UNLOAD_CALLBACKS_ROUTE).body


def _controlnet_unload(server: WebUIServer) -> str | None:
    """sd-webui-controlnet's callback that puts back the function it wrapped, if it is here."""
    return next((name for name in _unload_callbacks(server) if "/batch_hijack.py/" in name), None)


def _unloads_first(server: WebUIServer, controlnet: str) -> str:
    names = _unload_callbacks(server)
    ours = next(index for index, name in enumerate(names) if "/animatediff_hosts.py/" in name)
    return "AnimateDiff" if ours < names.index(controlnet) else "ControlNet"


@pytest.mark.parametrize("animatediff_first", [False, True], ids=["newest-first", "animatediff-first"])
def test_the_batch_tab_hands_over_after_every_reload_ui(reloading_server: WebUIServer, tmp_path: Path, animatediff_first: bool) -> None:
    server = reloading_server
    folder = flat_frames(tmp_path / "frames", [60 * index for index in range(FRAMES)])
    animation = animatediff(video_length=0)["AnimateDiff"]["args"][0]
    plain_before = server.post("/sdapi/v1/txt2img", txt2img_payload()).images()[0]
    reloads_before = server.log_text().count("Restarting UI")

    controlnet = _controlnet_unload(server)
    if animatediff_first and controlnet is None:
        pytest.skip("no sd-webui-controlnet wrapping the Batch tab's loop here (Forge): no unload order to change")
    layers = []
    with settings_restored(server, {UNLOAD_ORDER: []}):
        # the WebUI calls its ordered list in reverse: sd-webui-controlnet's put first is called last
        assert server.post("/sdapi/v1/options", {UNLOAD_ORDER: [controlnet] if animatediff_first else []}).ok
        for reloads in range(3):
            if reloads:
                if controlnet is not None:
                    expected = "AnimateDiff" if animatediff_first else "ControlNet"
                    assert _unloads_first(server, controlnet) == expected, _unload_callbacks(server)
                _reload(server)
            batch_tab_animation(server, {"input_dir": str(folder), "steps": 2, "animatediff": animation}, FRAMES)
            looped = server.post(IMG2IMG_BATCH_ROUTE, {"input_dir": str(folder), "steps": 2, "animatediff": {"enable": False}})
            assert looped.ok and looped.body["images"] == FRAMES, f"after {reloads} reloads: HTTP {looped.status}: {looped.text[:1000]}"
            layers.append(looped.body["layers"])
    print(f"\nprocess_batch's layers, outermost first: {layers[0]}")

    assert layers[0].count("AnimateDiff") == 1 and layers[0][-1] == "modules.img2img.process_batch", layers[0]
    assert layers[1] == layers[2] == layers[0], f"the wrappers changed with the reloads: {layers}"
    log = server.log_text()
    assert log.count("Restarting UI") - reloads_before == 2, "the WebUI did not reload twice"
    assert log.count(f"img2img batch: {FRAMES} frames from {folder} as one animation") == 3, "a run was handed over more or less than once"
    plain_after = server.post("/sdapi/v1/txt2img", txt2img_payload()).images()[0]
    assert np.array_equal(plain_after, plain_before), "a plain txt2img differs after the reloads"
