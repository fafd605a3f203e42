"""Getting motion modules through the real WebUI's API: the catalog, the installed list, and
downloads from a local server standing in for Hugging Face (Settings → mirror), with a
resume after a broken connection, a checksum mismatch, a missing file, a dead server and
names outside the catalog. The catalog is the test's own (Settings → catalog file): random
weights in the published key layouts, with their real sizes and checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import pytest
from webui_api import HF_PATH, MOTION_MODULE, SDXL_MOTION_MODULE, WebUIServer, download_settings, wait_for_download, write_test_catalog

from lib_animatediff.devtools.file_server import ServerBehaviour, serving

API = "/animatediff/v1"


class World:
    def __init__(self, server: WebUIServer, behaviour: ServerBehaviour, base_url: str, entries: dict[str, dict]) -> None:
        self.server, self.behaviour, self.base_url, self.entries = server, behaviour, base_url, entries
        self.models = server.data_dir / "motion_modules"
        self.loras = server.data_dir / "models" / "Lora"

    def download(self, name: str) -> dict:
        answer = self.server.post(f"{API}/motion-modules/download", {"name": name})
        assert answer.status == 202, answer.text
        assert answer.body["name"] == name and answer.body["total"] == self.entries[name]["size"]
        return wait_for_download(self.server, name)


@pytest.fixture(scope="module")
def world(webui_server: WebUIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("catalog-server")
    catalog = root / "catalog.json"
    entries = write_test_catalog(root / "files", catalog)
    behaviour = ServerBehaviour(root / "files")
    with serving(behaviour) as base_url, download_settings(webui_server, catalog, base_url):
        world = World(webui_server, behaviour, base_url, entries)
        try:
            yield world
        finally:
            for folder in (world.models, world.loras):
                for name in entries:
                    for leftover in (folder / name, folder / f"{name}.part"):
                        leftover.unlink(missing_ok=True)

def test_the_catalog_and_the_installed_modules_are_listed(world: World) -> None:
    catalog = world.server.get(f"{API}/catalog")
    assert catalog.ok, catalog.text
    assert [entry["name"] for entry in catalog.body] == list(world.entries)
    assert not any(entry["installed"] for entry in catalog.body)
    assert {entry["base_model"] for entry in catalog.body} == {"SD 1.5", "SDXL"}
    installed = {entry["name"]: entry for entry in world.server.get(f"{API}/motion-modules").body}
    assert (installed[MOTION_MODULE]["family"], installed[MOTION_MODULE]["fits_checkpoint"]) == ("v2", True)
    assert (installed[SDXL_MOTION_MODULE]["family"], installed[SDXL_MOTION_MODULE]["fits_checkpoint"]) == ("sdxl", False)


def test_a_download_lands_checked_and_is_listed_with_its_hash(world: World) -> None:
    name = "mm_test_v2.safetensors"
    status = world.download(name)
    assert status["state"] == "done", status
    assert status["downloaded"] == world.entries[name]["size"] and Path(status["path"]) == world.models / name
    assert hashlib.sha256((world.models / name).read_bytes()).hexdigest() == world.entries[name]["sha256"]
    installed = {entry["name"]: entry for entry in world.server.get(f"{API}/motion-modules").body}
    assert installed[name]["family"] == "v2" and installed[name]["sha256"] == world.entries[name]["sha256"]
    assert installed[name]["fits_checkpoint"] is True
    assert {entry["name"]: entry["installed"] for entry in world.server.get(f"{API}/catalog").body}[name] is True
    assert (f"/{HF_PATH}/{name}", None) in world.behaviour.requests  # fetched from the mirror, under the published path


def test_a_motion_lora_goes_to_the_lora_folder(world: World) -> None:
    status = world.download("v2_lora_TestZoom.ckpt")
    assert status["state"] == "done", status
    assert Path(status["path"]) == world.loras / "v2_lora_TestZoom.ckpt" and not (world.models / "v2_lora_TestZoom.ckpt").exists()


def test_a_broken_connection_is_reported_and_the_next_download_resumes(world: World) -> None:
    name = "mm_test_v3_resumed.safetensors"
    size = world.entries[name]["size"]
    world.behaviour.break_after[f"/{HF_PATH}/{name}"] = size // 3
    broken = world.download(name)
    assert broken["state"] == "failed" and f"{size // 3} of {size} bytes" in broken["message"] and "resumes" in broken["message"]
    assert (world.models / f"{name}.part").stat().st_size == size // 3 and not (world.models / name).exists()
    assert name not in {entry["name"] for entry in world.server.get(f"{API}/motion-modules").body}
    resumed = world.download(name)
    assert resumed["state"] == "done", resumed
    assert world.behaviour.requests[-1] == (f"/{HF_PATH}/{name}", f"bytes={size // 3}-")
    assert hashlib.sha256((world.models / name).read_bytes()).hexdigest() == world.entries[name]["sha256"]
    assert not (world.models / f"{name}.part").exists()


def test_a_checksum_mismatch_deletes_the_download_and_says_so(world: World) -> None:
    name = "mm_test_tampered.safetensors"
    status = world.download(name)
    assert status["state"] == "failed" and "does not match the catalog's" in status["message"] and "deleted" in status["message"]
    assert not (world.models / name).exists() and not (world.models / f"{name}.part").exists()


def test_a_missing_file_and_a_dead_server_are_reported_and_leave_nothing(world: World) -> None:
    name = "mm_test_missing.safetensors"
    missing = world.download(name)
    assert missing["state"] == "failed" and "answered 404" in missing["message"]
    assert world.server.post("/sdapi/v1/options", {"animatediff_download_mirror": "http://127.0.0.1:9"}).ok
    try:
        offline = world.download("mm_test_sdxl.safetensors")
    finally:
        world.server.post("/sdapi/v1/options", {"animatediff_download_mirror": world.base_url})
    assert offline["state"] == "failed" and "could not download from http://127.0.0.1:9/" in offline["message"]
    for leftover in (name, f"{name}.part", "mm_test_sdxl.safetensors", "mm_test_sdxl.safetensors.part"):
        assert not (world.models / leftover).exists()


@pytest.mark.parametrize("name", ["../../webui.log", "https://example.com/mm_sd_v15_v2.ckpt", "/etc/passwd", MOTION_MODULE])
def test_names_outside_the_catalog_are_refused(world: World, name: str) -> None:
    requests_before = len(world.behaviour.requests)
    answer = world.server.post(f"{API}/motion-modules/download", {"name": name})
    assert answer.status == 404 and "is not in the catalog" in answer.text, answer.text
    assert world.server.get(f"{API}/motion-modules/download/{name.replace('/', '%2F')}").status == 404
    assert len(world.behaviour.requests) == requests_before
    assert world.server.get("/sdapi/v1/options").ok  # the WebUI keeps serving


def test_the_built_in_catalog_is_served_when_no_file_is_set(world: World) -> None:
    assert world.server.post("/sdapi/v1/options", {"animatediff_catalog_file": ""}).ok
    try:
        built_in = world.server.get(f"{API}/catalog")
    finally:
        world.server.post("/sdapi/v1/options", {"animatediff_catalog_file": str(world.behaviour.root.parent / "catalog.json")})
    assert built_in.ok and "mm_sd_v15_v2.ckpt" in {entry["name"] for entry in built_in.body}

