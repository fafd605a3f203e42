"""What the accordion's download panel and the HTTP API ask of the catalog and the folders.

Both go through :class:`DownloadService`: the catalog with what is installed marked, the
installed motion modules with their families and hashes, and downloads by catalog name only
(never a URL or a path from the request).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..downloads.catalog import BUILT_IN_CATALOG, Catalog, CatalogFile, FileKind, UnknownCatalogName, load_catalog
from ..downloads.tasks import DONE, DownloadStatus, Downloads
from ..model.families import BaseModel
from ..model.hashing import HashCache
from ..model.installed import InstalledModules

INSTALLED_MARK = " ✓ installed"
NOT_STARTED = "not started"


@dataclass(frozen=True)
class DownloadPlaces:
    """Where things are in the running WebUI, asked afresh each time (settings change)."""

    model_dir: Callable[[], Path]
    lora_dir: Callable[[], Path]
    controlnet_dir: Callable[[], Path]
    catalog_file: Callable[[], str]  # empty: the built-in catalog
    mirror: Callable[[], str]  # empty: Hugging Face itself
    loaded_base: Callable[[], BaseModel | None]
    hashes: Callable[[], HashCache]


class DownloadService:
    def __init__(self, places: DownloadPlaces, downloads: Downloads, installed: InstalledModules) -> None:
        self.places = places
        self.downloads = downloads
        self.installed = installed

    def catalog(self) -> Catalog:
        return load_catalog(Path(self.places.catalog_file() or BUILT_IN_CATALOG))

    def file(self, name: str) -> CatalogFile:
        catalog = self.catalog()
        if name not in catalog:
            raise UnknownCatalogName(f"{name!r} is not in the catalog; GET /animatediff/v1/catalog lists the names")
        return catalog[name]

    def folder(self, file: CatalogFile) -> Path:
        places = self.places
        folders = {FileKind.MOTION_MODULE: places.model_dir, FileKind.CONTROLNET: places.controlnet_dir}
        return folders.get(file.kind, places.lora_dir)()

    def is_installed(self, file: CatalogFile) -> bool:
        """There, under the catalog's name (and size, where the catalog knows it)."""
        path = self.folder(file) / file.name
        return path.is_file() and file.size in (None, path.stat().st_size)

    # ------------------------------------------------------------------ downloads

    def start(self, name: str) -> DownloadStatus:
        file = self.file(name)
        return self.downloads.start(file, file.url_from(self.places.mirror()), self.folder(file), lambda path: self._finished(file, path))

    def status(self, name: str) -> DownloadStatus:
        file = self.file(name)
        status = self.downloads.status(name)
        if status is not None:
            return status
        if self.is_installed(file):
            path = self.folder(file) / file.name
            size = path.stat().st_size
            return DownloadStatus(name, DONE, size, size, f"installed as {path}", str(path))
        return DownloadStatus(name, NOT_STARTED, 0, file.size)

    def follow(self, name: str, poll_s: float = 0.5) -> Iterator[DownloadStatus]:
        """A download's statuses from its start until it ends (the last one says how)."""
        status = self.start(name)
        yield status
        while status.running:
            time.sleep(poll_s)
            status = self.status(name)
            yield status

    def _finished(self, file: CatalogFile, path: Path) -> None:
        if file.sha256 is not None:  # checked on the way in: infotext needs no second read
            self.places.hashes().record(path, file.sha256)

    # ------------------------------------------------------------------ listings

    def catalog_listing(self) -> list[dict[str, Any]]:
        return [{**file.as_dict(), "installed": self.is_installed(file)} for file in self.catalog().values()]

    def installed_listing(self) -> list[dict[str, Any]]:
        folder, base, hashes = self.places.model_dir(), self.places.loaded_base(), self.places.hashes()
        listing = []
        for entry in self.installed.entries(folder):
            family = entry.family
            listing.append({
                "name": entry.name, "family": family and family.name, "family_title": family and family.title,
                "base_model": family and family.base.value, "size": (folder / entry.name).stat().st_size,
                "sha256": hashes.known(folder / entry.name),
                "fits_checkpoint": None if base is None or family is None else family.base is base,
            })  # fmt: skip
        return listing

    # ------------------------------------------------------------------ the panel's words

    def choices(self) -> list[str]:
        """The panel's dropdown: grouped by base model, then by kind (motion modules first), in
        catalog order within each."""
        kinds, bases = list(FileKind), list(BaseModel)
        files = sorted(self.catalog().values(), key=lambda file: (bases.index(file.base), kinds.index(file.kind)))
        return [self.label(file) for file in files]

    def label(self, file: CatalogFile) -> str:
        what = file.family.title if file.kind is FileKind.MOTION_MODULE else f"{file.kind.value} for {file.family.title}"
        mark = INSTALLED_MARK if self.is_installed(file) else ""
        size = "size not listed" if file.size is None else f"{file.size / 1e6:,.0f} MB"
        return f"{file.base.value} · {what} · {file.name} ({size}){mark}"

    def name_of(self, label: str) -> str:
        """The catalog name in a dropdown label (a bare name passes through)."""
        return next((name for name in self.catalog() if f" · {name} (" in label), label)

    def description(self, label: str | None) -> str:
        if not label:
            return ""
        file = self.file(self.name_of(label))
        checksum = f"SHA-256 `{file.sha256}`" if file.sha256 else "no published checksum (checked by size)"
        return (
            f"**{file.name}** — {file.description}\n\n{file.publisher}, licence {file.licence}; "
            f"{'size not listed' if file.size is None else f'{file.size:,} bytes'}, {checksum}; goes to `{self.folder(file)}`"
        )

    def outcome(self, status: DownloadStatus) -> str:
        return f"✅ {status.message}" if status.state == DONE else f"❌ {status.message}"
