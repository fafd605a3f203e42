"""The `python -m lib_animatediff` commands on real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO
from PIL import Image

from lib_animatediff.cli import main


def _make(tmp_path, family, name, *extra):
    path = tmp_path / name
    assert main(["make-random", "--family", family, str(path), *extra]) == 0
    return path


def test_inspect_reports_family_frames_layout_and_hash(tmp_path, capsys):
    v2 = _make(tmp_path, "v2", "tiny_v2.safetensors")
    hotshot = _make(tmp_path, "hotshotxl", "hs.safetensors", "--naming", "hotshot", "--dtype", "float16")
    lcm = _make(tmp_path, "animatelcm", "lcm.ckpt")
    capsys.readouterr()
    assert main(["inspect", "--json", "--hash-cache", str(tmp_path / "h.json"), str(v2), str(hotshot), str(lcm)]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["family"] for r in reports] == ["v2", "hotshotxl", "animatelcm"]
    assert [r["max_frames"] for r in reports] == [32, 24, 64]
    assert [r["default_context"] for r in reports] == [16, 8, 16]
    assert all(r["layout_complete"] and not r["error"] for r in reports)
    assert reports[1]["dtype"] == "float16" and reports[0]["dtype"] == "float32"
    assert all(len(r["sha256"]) == 64 for r in reports) and reports[0]["sha256"] != reports[1]["sha256"]
    assert reports[0]["parameters"] > 1_000_000


def test_bad_files_get_one_line_reasons_and_exit_code_1(tmp_path, capsys):
    good = _make(tmp_path, "v3", "good.safetensors")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(good.read_bytes()[:1000])
    capsys.readouterr()
    assert main(["inspect", "--no-hash", str(good), str(garbage), str(truncated), str(tmp_path / "absent.pth")]) == 1
    out = capsys.readouterr().out.splitlines()
    errors = [line for line in out if ": error: " in line]
    assert [line.split(":")[0] for line in errors] == ["garbage.ckpt", "cut.safetensors", "absent.pth"]
    assert "AnimateDiff v3 (v3), for SD 1.5" in "\n".join(out)


def test_demo_writes_an_animated_gif(tmp_path, capsys):
    module = _make(tmp_path, "v1", "v1.safetensors")
    out = tmp_path / "demo.gif"
    assert main(["inspect", "--no-hash", str(module), "--demo", str(out), "--frames", "4", "--steps", "2"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 4 and gif.size == (128, 128)
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(gif.convert("RGB").tobytes())
    assert len(set(frames)) == 4  # the frames are not all the same picture
    assert "demo" in capsys.readouterr().out


def test_demo_refuses_more_frames_than_the_module_supports(tmp_path, capsys):
    module = _make(tmp_path, "hotshotxl", "hs.safetensors")
    assert main(["inspect", "--no-hash", str(module), "--demo", str(tmp_path / "x.gif"), "--frames", "30"]) == 1
    assert "at most 24" in capsys.readouterr().out
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize("argv", [["--help"], ["inspect", "--help"]])
def test_module_entry_point_runs(argv):
    result = subprocess.run([sys.executable, "-m", "lib_animatediff", *argv], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "inspect" in result.stdout
