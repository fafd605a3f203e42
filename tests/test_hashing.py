"""File hashes are correct, cached by size and mtime, and recomputed when the file changes."""

from __future__ import annotations

import hashlib
import os

import lib_animatediff.model.hashing as hashing
from lib_animatediff.model.hashing import HashCache, short_hash


def test_hash_is_sha256_and_cached_across_instances(tmp_path, monkeypatch):
    model = tmp_path / "mm.safetensors"
    model.write_bytes(b"motion" * 1000)
    cache_file = tmp_path / "cache" / "hashes.json"
    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    assert HashCache(cache_file).sha256(model) == expected
    assert cache_file.is_file()

    calls = []
    monkeypatch.setattr(hashing, "sha256_of", lambda path: calls.append(path) or "recomputed")
    assert HashCache(cache_file).sha256(model) == expected  # read from the cache file
    assert calls == []

    model.write_bytes(b"changed" * 1000)
    os.utime(model, ns=(1, 1))
    assert HashCache(cache_file).sha256(model) == "recomputed"
    assert len(calls) == 1


def test_damaged_cache_file_is_ignored(tmp_path):
    model = tmp_path / "mm.ckpt"
    model.write_bytes(b"x")
    cache_file = tmp_path / "hashes.json"
    cache_file.write_text("{not json")
    assert HashCache(cache_file).sha256(model) == hashlib.sha256(b"x").hexdigest()


def test_short_hash_is_ten_characters():
    assert short_hash("abcdef0123456789") == "abcdef0123"
