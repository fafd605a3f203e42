"""What the download panel and the API get: the catalog marked, installed modules described,
downloads by catalog name only, into the folder of each kind of file."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from lib_animatediff.devtools.file_server import ServerBehaviour, serving
from lib_animatediff.devtools.random_weights import random_motion_modules, save_motion_modules
from lib_animatediff.downloads.catalog import UnknownCatalogName
from lib_animatediff.downloads.tasks import DONE, FAILED, Downloads
from lib_animatediff.model.families import SDXL, V2, BaseModel
from lib_animatediff.model.hashing import HashCache
from lib_animatediff.model.installed import InstalledModules
from lib_animatediff.webui.downloads import INSTALLED_MARK, NOT_STARTED, DownloadPlaces, DownloadService

HF_PATH = "publisher/models/resolve/main"


def _entry(root: Path, name: str, kind: str, family: str, data: bytes, sha256: str | None = None) -> dict:
    (root / HF_PATH).mkdir(parents=True, exist_ok=True)
    (root / HF_PATH / name).write_bytes(data)
    return {
        "name": name, "kind": kind, "family": family, "url": f"https://huggingface.co/{HF_PATH}/{name}", "size": len(data),
        "sha256": sha256 or hashlib.sha256(data).hexdigest(), "licence": "Apache-2.0", "publisher": "test publisher",
        "description": f"a random {family} file",
    }  # fmt: skip


@pytest.fixture
def world(tmp_path: Path):
    server_root = tmp_path / "server"
    built = tmp_path / "built"
    built.mkdir()
    save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64)), built / "v2.safetensors")
    save_motion_modules(random_motion_modules(SDXL, (32, 64, 64)), built / "xl.safetensors")
    entries = [
        _entry(server_root, "mm_xl.safetensors", "motion module", "sdxl", (built / "xl.safetensors").read_bytes()),
        _entry(server_root, "mm_v2.safetensors", "motion module", "v2", (built / "v2.safetensors").read_bytes()),
        _entry(server_root, "zoom.ckpt", "motion LoRA", "v2", b"lora bytes" * 100),
        _entry(server_root, "sparse_rgb.ckpt", "ControlNet model", "v3", b"controlnet bytes" * 100),
        _entry(server_root, "wrong.safetensors", "motion module", "v2", b"x" * 1000, sha256="1" * 64),
    ]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"files": entries}))
    models, loras, controlnets = tmp_path / "models", tmp_path / "Lora", tmp_path / "ControlNet"
    behaviour = ServerBehaviour(server_root)
    with serving(behaviour) as base_url:
        places = DownloadPlaces(
            model_dir=lambda: models, lora_dir=lambda: loras, controlnet_dir=lambda: controlnets, catalog_file=lambda: str(catalog), mirror=lambda: base_url,
            loaded_base=lambda: BaseModel.SD15, hashes=lambda: HashCache(tmp_path / "hashes.json"),
        )  # fmt: skip
        yield DownloadService(places, Downloads(), InstalledModules()), models, loras, behaviour, controlnets


def _finish(service: DownloadService, name: str):
    *_, last = service.follow(name, poll_s=0.02)
    return last


def test_downloads_land_in_the_folder_of_their_kind_and_are_marked_installed(world) -> None:
    service, models, loras, _, controlnets = world
    assert service.status("mm_v2.safetensors").state == NOT_STARTED
    assert not any(label.endswith(INSTALLED_MARK) for label in service.choices())
    assert _finish(service, "mm_v2.safetensors").state == DONE and (models / "mm_v2.safetensors").is_file()
    assert _finish(service, "zoom.ckpt").state == DONE and (loras / "zoom.ckpt").is_file()
    assert _finish(service, "sparse_rgb.ckpt").state == DONE and (controlnets / "sparse_rgb.ckpt").is_file()
    installed = {entry["name"]: entry["installed"] for entry in service.catalog_listing()}
    assert installed == {
        "mm_xl.safetensors": False, "mm_v2.safetensors": True, "zoom.ckpt": True, "sparse_rgb.ckpt": True, "wrong.safetensors": False,
    }  # fmt: skip
    marked = [service.name_of(label) for label in service.choices() if label.endswith(INSTALLED_MARK)]
    assert marked == ["mm_v2.safetensors", "zoom.ckpt", "sparse_rgb.ckpt"]
    assert service.status("mm_v2.safetensors").state == DONE


def test_the_panel_groups_by_base_model_and_names_each_file(world) -> None:
    service, *_ = world
    labels = service.choices()
    assert [label.split(" · ")[0] for label in labels] == ["SD 1.5"] * 4 + ["SDXL"]
    assert labels[2].startswith("SD 1.5 · motion LoRA for AnimateDiff v2 · zoom.ckpt (0 MB)")
    assert labels[3].startswith("SD 1.5 · ControlNet model for AnimateDiff v3 · sparse_rgb.ckpt")
    # within a base model: motion modules first, then by kind, in catalog order within a kind
    names = ["mm_v2.safetensors", "wrong.safetensors", "zoom.ckpt", "sparse_rgb.ckpt", "mm_xl.safetensors"]
    assert [service.name_of(label) for label in labels] == names
    about = service.description(labels[0])
    assert "test publisher, licence Apache-2.0" in about and "SHA-256 `" in about and "a random v2 file" in about


def test_installed_modules_say_family_fit_and_the_hash_the_download_checked(world) -> None:
    service, models, *_ = world
    _finish(service, "mm_v2.safetensors")
    _finish(service, "mm_xl.safetensors")
    (models / "mine.safetensors").write_bytes(b"not a module")
    listing = {entry["name"]: entry for entry in service.installed_listing()}
    v2, xl = listing["mm_v2.safetensors"], listing["mm_xl.safetensors"]
    assert (v2["family"], v2["base_model"], v2["fits_checkpoint"]) == ("v2", "SD 1.5", True)
    assert (xl["family"], xl["base_model"], xl["fits_checkpoint"]) == ("sdxl", "SDXL", False)
    assert v2["sha256"] == hashlib.sha256((models / "mm_v2.safetensors").read_bytes()).hexdigest()
    assert listing["mine.safetensors"]["family"] is None and listing["mine.safetensors"]["sha256"] is None


def test_a_checksum_mismatch_is_reported_and_nothing_stays(world) -> None:
    service, models, *_ = world
    status = _finish(service, "wrong.safetensors")
    assert status.state == FAILED and "does not match" in status.message
    assert list(models.iterdir()) == []
    assert service.outcome(status).startswith("❌")


@pytest.mark.parametrize("name", ["../../etc/passwd", "https://example.com/mm.ckpt", "mm_v2", "/tmp/mm_v2.safetensors", ""])
def test_only_catalog_names_are_accepted(world, name: str) -> None:
    service, models, loras, behaviour, _ = world
    with pytest.raises(UnknownCatalogName, match="not in the catalog"):
        service.start(name)
    with pytest.raises(UnknownCatalogName):
        service.status(name)
    time.sleep(0.05)
    assert behaviour.requests == [] and not models.exists() and not loras.exists()
