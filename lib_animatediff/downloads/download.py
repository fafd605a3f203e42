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
from .catalog import CatalogFile

CHUNK = 1 << 20
TIMEOUT_S = 30.0  # per read: a stalled server fails instead of hanging the task
USER_AGENT = "sd-webui-animatediff-downloader"

Report = Callable[[int, int], None]  # (bytes on disk, bytes expected)


class DownloadError(AnimateDiffError):
    """The server or the connection failed, or the bytes are not the catalog's file."""

    http_status = 502


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def download(file: CatalogFile, url: str, folder: Path, report: Report = lambda done, total: None) -> Path:
    """``file`` from ``url`` into ``folder``; returns the finished file's path."""
    target = folder / file.name
    if target.is_file():
        if target.stat().st_size == file.size:
            return target
        raise DownloadError(f"{target} is already there and is not the catalog's file (its size differs); move it away first")
    folder.mkdir(parents=True, exist_ok=True)
    partial = part_path(target)
    digest, done = _resume_state(partial, file.size)
    report(done, file.size)
    try:
        digest, done = _fetch(url, partial, digest, done, file.size, report)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{file.name}: {url} answered {error.code} {error.reason}") from error
    except (OSError, http.client.HTTPException) as error:  # offline, refused, reset, timed out, cut short
        raise DownloadError(_broken_message(file, url, partial, error)) from error
    _verify(file, partial, digest, done)
    os.replace(partial, target)
    return target


def _resume_state(partial: Path, size: int) -> tuple[hashlib._Hash, int]:
    """The digest of what an earlier attempt left, and its length (0 to start afresh)."""
    digest = hashlib.sha256()
    if not partial.is_file() or partial.stat().st_size > size:
        partial.unlink(missing_ok=True)
        return digest, 0
    with open(partial, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest, partial.stat().st_size


def _fetch(url: str, partial: Path, digest: hashlib._Hash, done: int, size: int, report: Report) -> tuple[hashlib._Hash, int]:
    if done == size:
        return digest, done  # an earlier attempt got every byte; only the check is left
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={done}-"} if done else {})}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
        if done and response.status != 206:  # the server ignores ranges: start again
            digest, done = hashlib.sha256(), 0
        with open(partial, "ab" if done else "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                report(done, size)
    return digest, done


def _broken_message(file: CatalogFile, url: str, partial: Path, error: BaseException) -> str:
    kept = partial.stat().st_size if partial.is_file() else 0
    detail = f"{type(error).__name__}: {error}"
    if not kept:
        partial.unlink(missing_ok=True)
        return f"{file.name}: could not download from {url} ({detail})"
    return f"{file.name}: the download broke off after {kept} of {file.size} bytes ({detail}); they are kept in {partial.name} and the next download resumes there"


def _verify(file: CatalogFile, partial: Path, digest: hashlib._Hash, done: int) -> None:
    if done < file.size:
        raise DownloadError(f"{file.name}: the server sent {done} of {file.size} bytes; they are kept in {partial.name} and the next download resumes there")
    if done > file.size:
        partial.unlink()
        raise DownloadError(f"{file.name}: the server sent {done} bytes, the catalog says {file.size}; the download was deleted")
    if file.sha256 is not None and digest.hexdigest() != file.sha256:
        partial.unlink()
        raise DownloadError(f"{file.name}: SHA-256 {digest.hexdigest()} does not match the catalog's {file.sha256}; the download was deleted")
