"""Motion modules are found recursively, by relative path, file name or stem."""

from __future__ import annotations

import pytest

from lib_animatediff.errors import MotionModuleFileError
from lib_animatediff.model.files import find_motion_module, list_motion_modules


def test_listing_is_recursive_sorted_and_filtered(tmp_path):
    for name in ["b.ckpt", "sub/A.safetensors", "notes.txt", "c.pth"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert list_motion_modules(tmp_path) == ["b.ckpt", "c.pth", "sub/A.safetensors"]
    assert list_motion_modules(tmp_path / "absent") == []


def test_find_by_relative_path_name_or_stem(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mm_sd_v15_v2.ckpt").write_bytes(b"x")
    for name in ["sub/mm_sd_v15_v2.ckpt", "mm_sd_v15_v2.ckpt", "mm_sd_v15_v2"]:
        assert find_motion_module(tmp_path, name) == tmp_path / "sub" / "mm_sd_v15_v2.ckpt"
    assert find_motion_module(tmp_path, "") == tmp_path / "sub" / "mm_sd_v15_v2.ckpt"


def test_missing_module_names_what_is_available(tmp_path):
    (tmp_path / "one.ckpt").write_bytes(b"x")
    with pytest.raises(MotionModuleFileError, match=r"'two.ckpt' not found .* available: one.ckpt"):
        find_motion_module(tmp_path, "two.ckpt")
    with pytest.raises(MotionModuleFileError, match="no motion modules"):
        find_motion_module(tmp_path / "empty", "")
