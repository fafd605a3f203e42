"""SHA-256 of model files, computed once per file and cached by size and mtime."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


def sha256_of(path: str | Path) -> str:
    return sha256_digest(path).hexdigest()


def sha256_digest(path: str | Path) -> hashlib._Hash:
    """The SHA-256 state after the file's bytes, for a caller that goes on feeding it."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest


class HashCache:
    """A JSON file of ``path → {size, mtime_ns, sha256}``; a changed file is hashed again."""

    def __init__(self, cache_file: str | Path):
        self.cache_file = Path(cache_file)
        self._entries: dict[str, dict] = self._read()

    def sha256(self, path: str | Path) -> str:
        known = self.known(path)
        if known is not None:
            return known
        digest = sha256_of(path)
        self.record(path, digest)
        return digest

    def known(self, path: str | Path) -> str | None:
        """The cached hash of this version of the file, without reading it."""
        path = Path(path).resolve()
        stat = path.stat()
        entry = self._entries.get(str(path))
        if entry and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            return entry["sha256"]
        return None

    def record(self, path: str | Path, sha256: str) -> None:
        """Remember a hash computed elsewhere (a download checks its bytes as they arrive)."""
        path = Path(path).resolve()
        stat = path.stat()
        self._entries[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
        self._write()

    def _read(self) -> dict[str, dict]:
        try:
            entries = json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            return {}
        return entries if isinstance(entries, dict) else {}

    def _write(self) -> None:
        # Write beside the target and rename, so a crash never leaves half a cache.
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.cache_file.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as stream:
            json.dump(self._entries, stream, indent=1, sort_keys=True)
        os.replace(temporary, self.cache_file)


def short_hash(sha256: str) -> str:
    """The 10-character form A1111 shows in infotext."""
    return sha256[:10]


def default_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "animatediff-a1111" / "hashes.json"
