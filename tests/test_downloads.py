"""Downloading catalog files from a local server: resume, checks, refusals, the task registry."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from lib_animatediff.devtools.file_server import ServerBehaviour, serving
from lib_animatediff.downloads.catalog import CatalogError, CatalogFile, FileKind, load_catalog
from lib_animatediff.downloads.download import DownloadError, download, part_path
from lib_animatediff.downloads.tasks import DONE, FAILED, Downloads
from lib_animatediff.model.families import V2

PUBLISHED_PATH = "guoyww/animatediff/resolve/main"


def published(root: Path, name: str, size: int = 300_000, seed: int = 0) -> tuple[Path, bytes]:
    data = bytes((seed + i * 7919) % 251 for i in range(size))
    path = root / PUBLISHED_PATH / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, data


def catalog_file(name: str, data: bytes, sha256: str | None = "right", size: int | None = None) -> CatalogFile:
    return CatalogFile(
        name=name, kind=FileKind.MOTION_MODULE, family=V2, url=f"https://huggingface.co/{PUBLISHED_PATH}/{name}",
        size=len(data) if size is None else size, sha256=hashlib.sha256(data).hexdigest() if sha256 == "right" else sha256,
        licence="Apache-2.0", publisher="test", description="test file",
    )  # fmt: skip


@pytest.fixture
def server(tmp_path: Path):
    behaviour = ServerBehaviour(tmp_path / "server")
    behaviour.root.mkdir()
    with serving(behaviour) as base_url:
        yield behaviour, base_url


def test_a_file_from_a_mirror_lands_under_its_name_checked(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file = catalog_file("mm.ckpt", data)
    reports: list[tuple[int, int]] = []
    path = download(file, file.url_from(base_url), tmp_path / "models", lambda done, total: reports.append((done, total)))
    assert path == tmp_path / "models" / "mm.ckpt" and path.read_bytes() == data
    assert not part_path(path).exists()
    assert reports[0] == (0, len(data)) and reports[-1] == (len(data), len(data))
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_a_broken_connection_keeps_the_part_and_the_next_download_resumes(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file, folder = catalog_file("mm.ckpt", data), tmp_path / "models"
    behaviour.break_after[f"/{PUBLISHED_PATH}/mm.ckpt"] = 100_000
    with pytest.raises(DownloadError, match=r"100000 of 300000 bytes.*mm\.ckpt\.part.*resumes"):
        download(file, file.url_from(base_url), folder)
    assert part_path(folder / "mm.ckpt").stat().st_size == 100_000 and not (folder / "mm.ckpt").exists()
    assert download(file, file.url_from(base_url), folder).read_bytes() == data
    assert behaviour.requests[-1] == (f"/{PUBLISHED_PATH}/mm.ckpt", "bytes=100000-")


def test_a_server_that_ignores_ranges_gives_the_whole_file_again(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file, folder = catalog_file("mm.ckpt", data), tmp_path / "models"
    folder.mkdir()
    part_path(folder / "mm.ckpt").write_bytes(data[:5000])
    behaviour.ignore_ranges = True
    assert download(file, file.url_from(base_url), folder).read_bytes() == data


def test_a_checksum_mismatch_deletes_the_download_and_says_so(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file, folder = catalog_file("mm.ckpt", data, sha256="0" * 64), tmp_path / "models"
    with pytest.raises(DownloadError, match="does not match the catalog's 0000.*deleted"):
        download(file, file.url_from(base_url), folder)
    assert list(folder.iterdir()) == []


def test_a_wrong_size_deletes_the_download(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file, folder = catalog_file("mm.ckpt", data, size=len(data) - 10), tmp_path / "models"
    with pytest.raises(DownloadError, match="catalog says"):
        download(file, file.url_from(base_url), folder)
    assert list(folder.iterdir()) == []


def test_a_file_without_a_listed_size_uses_the_servers_and_the_checksum(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file, folder = catalog_file("mm.ckpt", data, size=0), tmp_path / "models"
    file = CatalogFile(**{**vars(file), "size": None})
    behaviour.break_after[f"/{PUBLISHED_PATH}/mm.ckpt"] = 1000
    with pytest.raises(DownloadError, match=r"1000 of 300000 bytes.*resumes"):  # the length the server announced
        download(file, file.url_from(base_url), folder)
    reports: list[tuple[int, int | None]] = []
    assert download(file, file.url_from(base_url), folder, lambda done, total: reports.append((done, total))).read_bytes() == data
    assert reports[0] == (1000, None) and reports[-1] == (len(data), len(data))
    assert download(file, "http://127.0.0.1:9/never-asked", folder).read_bytes() == data  # installed: its checksum says so
    (folder / "mm.ckpt").write_bytes(data[:-1] + b"!")
    with pytest.raises(DownloadError, match="not the catalog's file"):
        download(file, file.url_from(base_url), folder)


def test_a_file_without_a_published_checksum_is_checked_by_size(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file = catalog_file("mm.ckpt", data, sha256=None)
    assert download(file, file.url_from(base_url), tmp_path).read_bytes() == data


def test_missing_files_and_dead_servers_leave_nothing_behind(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    file, folder = catalog_file("absent.ckpt", b"x" * 10), tmp_path / "models"
    with pytest.raises(DownloadError, match="answered 404"):
        download(file, file.url_from(base_url), folder)
    with pytest.raises(DownloadError, match="could not download from http://127.0.0.1:9/"):
        download(file, file.url_from("http://127.0.0.1:9"), folder)  # the discard port: nothing listens
    assert list(folder.iterdir()) == []


def test_an_installed_file_is_kept_and_a_foreign_one_is_never_overwritten(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file, folder = catalog_file("mm.ckpt", data), tmp_path / "models"
    folder.mkdir()
    (folder / "mm.ckpt").write_bytes(b"my own module")
    with pytest.raises(DownloadError, match="already there and is not the catalog's file"):
        download(file, file.url_from(base_url), folder)
    assert (folder / "mm.ckpt").read_bytes() == b"my own module"
    (folder / "mm.ckpt").write_bytes(data)
    assert download(file, "http://127.0.0.1:9/never-asked", folder).read_bytes() == data
    assert behaviour.requests == []


def test_the_registry_runs_one_download_per_name_and_reports_its_end(server, tmp_path: Path) -> None:
    behaviour, base_url = server
    _, data = published(behaviour.root, "mm.ckpt")
    file, downloads, finished = catalog_file("mm.ckpt", data), Downloads(), []
    first = downloads.start(file, file.url_from(base_url), tmp_path, finished.append)
    assert first.name == "mm.ckpt" and first.total == len(data)
    status = _wait(downloads, "mm.ckpt")
    assert status.state == DONE and status.downloaded == len(data) and status.path == str(tmp_path / "mm.ckpt")
    assert finished == [tmp_path / "mm.ckpt"]
    assert downloads.status("other.ckpt") is None


def test_the_registry_reports_a_failure_as_a_message(server, tmp_path: Path) -> None:
    _, base_url = server
    file, downloads = catalog_file("absent.ckpt", b"x" * 10), Downloads()
    downloads.start(file, file.url_from(base_url), tmp_path)
    status = _wait(downloads, "absent.ckpt")
    assert status.state == FAILED and "answered 404" in status.message


def _wait(downloads: Downloads, name: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while (status := downloads.status(name)).running:
        assert time.monotonic() < deadline, status
        time.sleep(0.02)
    return status


def test_a_mirror_replaces_only_hugging_face_addresses() -> None:
    file = catalog_file("mm.ckpt", b"x")
    assert file.url_from("") == file.url
    assert file.url_from("https://hf-mirror.com/") == f"https://hf-mirror.com/{PUBLISHED_PATH}/mm.ckpt"
    elsewhere = CatalogFile(**{**vars(file), "url": "https://civitai.com/api/download/models/1"})
    assert elsewhere.url_from("https://hf-mirror.com") == elsewhere.url


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "../evil.ckpt"}, "plain file name"),
        ({"name": "notes.txt"}, "not a"),
        ({"family": "v9"}, "unknown family"),
        ({"url": "file:///etc/passwd"}, "not http"),
        ({"size": 0}, "positive"),
        ({"sha256": "ABC"}, "64 lowercase hex"),
        ({"sha256": None, "size": None}, "needs a size or a sha256"),
        ({"kind": "checkpoint"}, "checkpoint"),
    ],
)
def test_a_catalog_entry_that_breaks_the_format_is_refused_by_number(tmp_path: Path, change: dict, message: str) -> None:
    entry = {**catalog_file("mm.ckpt", b"x").as_dict(), "kind": "motion module", "family": "v2", **change}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"files": [entry]}))
    with pytest.raises(CatalogError, match=f"entry 1: .*{message}"):
        load_catalog(path)


def test_an_unreadable_catalog_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text("{not json")
    with pytest.raises(CatalogError, match="catalog.json could not be read"):
        load_catalog(tmp_path / "catalog.json")
