"""Fetching one catalog file into its folder: resumable, checked, and never half-visible.

The bytes go to ``<name>.part`` beside the target (a suffix the module list ignores) and
are renamed to ``<name>`` only after the size and, where the catalog lists one, the SHA-256
match. A broken connection keeps the part file, and the next download of the same file asks
the server for the rest (an HTTP range request); a wrong size or checksum deletes it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import AnimateDiffError
from ..model.hashing import sha256_digest, sha256_of
from .catalog import CatalogFile

CHUNK = 1 << 20
TIMEOUT_S = 30.0  # per read: a stalled server fails instead of hanging the task
USER_AGENT = "sd-webui-animatediff-downloader"

Report = Callable[[int, int | None], None]  # (bytes on disk, bytes expected if known)


class DownloadError(AnimateDiffError):
    """The server or the connection failed, or the bytes are not the catalog's file."""

    http_status = 502


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def download(file: CatalogFile, url: str, folder: Path, report: Report = lambda done, total: None) -> Path:
    """``file`` from ``url`` into ``folder``; returns the finished file's path."""
    target = folder / file.name
    if target.is_file():
        if _is_catalog_file(target, file):
            return target
        raise DownloadError(f"{target} is already there and is not the catalog's file; move it away first")
    folder.mkdir(parents=True, exist_ok=True)
    partial = part_path(target)
    digest, done = _resume_state(partial, file.size)
    report(done, file.size)
    try:
        digest, done, expected = _fetch(url, partial, digest, done, file.size, report)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{file.name}: {url} answered {error.code} {error.reason}") from error
    except (OSError, http.client.HTTPException) as error:  # offline, refused, reset, timed out, cut short
        raise DownloadError(_broken_message(file, url, partial, error)) from error
    _verify(file, partial, digest, done, expected)
    os.replace(partial, target)
    return target


def _is_catalog_file(path: Path, file: CatalogFile) -> bool:
    if file.size is not None:
        return path.stat().st_size == file.size
    return sha256_of(path) == file.sha256


def _resume_state(partial: Path, size: int | None) -> tuple[hashlib._Hash, int]:
    """The digest of what an earlier attempt left, and its length (0 to start afresh)."""
    if not partial.is_file() or (size is not None and partial.stat().st_size > size):
        partial.unlink(missing_ok=True)
        return hashlib.sha256(), 0
    return sha256_digest(partial), partial.stat().st_size


def _fetch(
    url: str, partial: Path, digest: hashlib._Hash, done: int, size: int | None, report: Report
) -> tuple[hashlib._Hash, int, int | None]:
    """What is on disk after fetching the rest: its digest, its length, and the length the
    catalog or else the server announced."""
    if done and done == size:
        return digest, done, size  # an earlier attempt got every byte; only the check is left
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={done}-"} if done else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if done and error.code == 416:  # nothing after what we have: every byte is here
            return digest, done, size
        raise
    with response:
        if done and response.status != 206:  # the server ignores ranges: start again
            digest, done = hashlib.sha256(), 0
        length = response.headers.get("Content-Length")
        size = size if size is not None or length is None else done + int(length)
        with open(partial, "ab" if done else "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                report(done, size)
    return digest, done, size


def _broken_message(file: CatalogFile, url: str, partial: Path, error: BaseException) -> str:
    kept = partial.stat().st_size if partial.is_file() else 0
    of = "" if file.size is None else f" of {file.size}"
    detail = f"{type(error).__name__}: {error}"
    if not kept:
        partial.unlink(missing_ok=True)
        return f"{file.name}: could not download from {url} ({detail})"
    return f"{file.name}: the download broke off after {kept}{of} bytes ({detail}); they are kept in {partial.name} and the next download resumes there"


def _verify(file: CatalogFile, partial: Path, digest: hashlib._Hash, done: int, expected: int | None) -> None:
    if expected is not None and done < expected:
        raise DownloadError(f"{file.name}: the server sent {done} of {expected} bytes; they are kept in {partial.name} and the next download resumes there")
    if file.size is not None and done > file.size:
        partial.unlink()
        raise DownloadError(f"{file.name}: the server sent {done} bytes, the catalog says {file.size}; the download was deleted")
    if file.sha256 is not None and digest.hexdigest() != file.sha256:
        partial.unlink()
        raise DownloadError(f"{file.name}: SHA-256 {digest.hexdigest()} does not match the catalog's {file.sha256}; the download was deleted")
