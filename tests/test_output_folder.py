"""Where outputs go: inside the outputs folder, numbered after what is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib_animatediff.errors import AnimateDiffError
from lib_animatediff.media.output_folder import next_stem, safe_output_folder


def test_safe_output_folder_inside(tmp_path):
    root = tmp_path / "outputs"
    root.mkdir()
    default = Path("txt2img-images") / "AnimateDiff" / "2024-01-01"
    assert safe_output_folder(root, None, default) == (root / default).resolve()
    assert safe_output_folder(root, "", default) == (root / default).resolve()
    assert safe_output_folder(root, "mine/videos", default) == (root / "mine" / "videos").resolve()
    assert safe_output_folder(root, "a/../b", default) == (root / "b").resolve()
    assert safe_output_folder(root, root / "abs", default) == (root / "abs").resolve()
    assert safe_output_folder(root, str(root), default) == root.resolve()


def test_safe_output_folder_refuses_escapes(tmp_path):
    root = tmp_path / "outputs"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    for requested in ("..", "../elsewhere", "a/../../elsewhere", str(outside), "/etc", "link", "link/sub"):
        with pytest.raises(AnimateDiffError, match="outside"):
            safe_output_folder(root, requested, Path("x"))
    with pytest.raises(AnimateDiffError, match="outside"):
        safe_output_folder(root, None, Path("..") / "elsewhere")
    # A prefix of the root's name is not inside it.
    (tmp_path / "outputs2").mkdir()
    with pytest.raises(AnimateDiffError):
        safe_output_folder(root, str(tmp_path / "outputs2"), Path("x"))


def test_next_stem_numbers_after_the_highest(tmp_path):
    assert next_stem(tmp_path / "missing", 42) == "00000-42"
    assert next_stem(tmp_path, 42) == "00000-42"
    for name in ("00003-1.gif", "00010-5-abc.png", "notes.txt", "7x.gif", ".00099-1.tmp.gif"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "00012-9").mkdir()
    assert next_stem(tmp_path, 7) == "00013-7"
    assert next_stem(tmp_path, 7, "abc-DEF_09") == "00013-7-abc-DEF_09"  # request ids are plain names (params.py)
