"""The catalog of published files a user can download from the accordion or the API.

The facts live in ``catalog.json`` beside this file (data, not code); this module reads and
checks them. A catalog file of the same format can replace the built-in one (Settings), and
a mirror of Hugging Face can serve the files under the same paths.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import AnimateDiffError
from ..model.families import FAMILIES, BaseModel, MotionModuleFamily
from ..model.state_dict_io import SUPPORTED_SUFFIXES

BUILT_IN_CATALOG = Path(__file__).with_name("catalog.json")
HUGGING_FACE = "https://huggingface.co"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CatalogError(AnimateDiffError):
    """The catalog file is unreadable or one of its entries breaks the format."""

    http_status = 500


class UnknownCatalogName(AnimateDiffError):
    """A download was asked for by a name the catalog does not list."""

    http_status = 404


class FileKind(enum.Enum):
    """What a file is, which decides the folder it goes to."""

    MOTION_MODULE = "motion module"  # the motion-module folder
    MOTION_LORA = "motion LoRA"  # A1111's Lora folder, used as <lora:name:weight>
    LORA = "LoRA"  # an ordinary A1111 LoRA (v3's domain adapter, AnimateLCM's), the Lora folder too
    CONTROLNET = "ControlNet model"  # a ControlNet unit's model (SparseCtrl): the WebUI's ControlNet folder


@dataclass(frozen=True)
class CatalogFile:
    name: str  # the file name it is saved under, unique in the catalog
    kind: FileKind
    family: MotionModuleFamily  # its own family, or the one it is made for (LoRAs)
    url: str
    size: int | None  # bytes; None where the publisher's listing could not be confirmed
    sha256: str | None  # as the publisher lists it; None where it lists none
    licence: str
    publisher: str
    description: str

    @property
    def base(self) -> BaseModel:
        return self.family.base

    def url_from(self, mirror: str) -> str:
        """The URL to fetch: a Hugging Face file from ``mirror`` (same paths) when one is set."""
        if not mirror or not self.url.startswith(HUGGING_FACE + "/"):
            return self.url
        return mirror.rstrip("/") + self.url[len(HUGGING_FACE) :]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind.value, "family": self.family.name, "family_title": self.family.title,
            "base_model": self.base.value, "url": self.url, "size": self.size, "sha256": self.sha256,
            "licence": self.licence, "publisher": self.publisher, "description": self.description,
        }  # fmt: skip


Catalog = dict[str, CatalogFile]


def load_catalog(path: Path = BUILT_IN_CATALOG) -> Catalog:
    """The catalog's files by name, in the file's order."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CatalogError(f"catalog {path} could not be read: {error}") from error
    entries = data.get("files") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise CatalogError(f"catalog {path}: expected an object with a 'files' list")
    catalog: Catalog = {}
    for number, entry in enumerate(entries, start=1):
        try:
            file = _catalog_file(entry)
        except (KeyError, TypeError, ValueError) as error:
            raise CatalogError(f"catalog {path}, entry {number}: {error}") from error
        if file.name in catalog:
            raise CatalogError(f"catalog {path}: {file.name} is listed twice")
        catalog[file.name] = file
    return catalog


def _catalog_file(entry: dict[str, Any]) -> CatalogFile:
    name = str(entry["name"])
    if Path(name).name != name or name.startswith("."):
        raise ValueError(f"name {name!r} must be a plain file name")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{name}: not a {', '.join(SUPPORTED_SUFFIXES)} file")
    if entry["family"] not in FAMILIES:
        raise ValueError(f"{name}: unknown family {entry['family']!r}; one of {', '.join(FAMILIES)}")
    url = str(entry["url"])
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{name}: url {url!r} is not http(s)")
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ValueError(f"{name}: size must be a positive number of bytes")
    sha256 = entry.get("sha256")
    if sha256 is not None and not _SHA256.match(sha256):
        raise ValueError(f"{name}: sha256 must be 64 lowercase hex digits")
    if size is None and sha256 is None:
        raise ValueError(f"{name}: needs a size or a sha256, or a download could not be checked")
    return CatalogFile(
        name=name, kind=FileKind(entry["kind"]), family=FAMILIES[entry["family"]], url=url, size=size, sha256=sha256,
        licence=str(entry["licence"]), publisher=str(entry["publisher"]), description=str(entry["description"]),
    )  # fmt: skip
