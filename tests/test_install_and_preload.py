"""install.py installs only what is missing, through A1111's pip; preload.py adds its flag."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types

from conftest import REPO


def _load(name: str, fake_launch: types.ModuleType | None = None):
    if fake_launch is not None:
        sys.modules["launch"] = fake_launch
    try:
        spec = importlib.util.spec_from_file_location(f"animatediff_{name}", REPO / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.modules.pop("launch", None)


def _launch(installed: set[str], calls: list):
    launch = types.ModuleType("launch")
    launch.is_installed = lambda name: name in installed
    launch.run_pip = lambda command, desc: calls.append((command, desc))
    return launch


def test_installer_runs_pip_for_missing_requirements_only():
    calls = []
    module = _load("install")  # no launch: nothing happens at import
    names = [module.distribution_name(r) for r in module.requirement_lines()]
    assert names and "einops" in names
    _load("install", _launch(installed=set(names[1:]), calls=calls))
    assert len(calls) == 1 and names[0] in calls[0][0] and calls[0][0].startswith("install ")


def test_installer_is_quiet_and_idempotent_when_all_present(capsys):
    calls = []
    names = [_load("install").distribution_name(r) for r in _load("install").requirement_lines()]
    _load("install", _launch(installed=set(names), calls=calls))
    assert calls == []
    assert capsys.readouterr().out == ""


def test_distribution_names_strip_versions_and_markers():
    module = _load("install")
    assert module.distribution_name("imageio-ffmpeg>=0.4.2") == "imageio-ffmpeg"
    assert module.distribution_name("einops ; python_version>'3'") == "einops"
    assert module.distribution_name("pkg[extra]==1") == "pkg"


def test_preload_adds_model_dir_flag():
    parser = argparse.ArgumentParser()
    _load("preload").preload(parser)
    assert parser.parse_args(["--animatediff-model-dir", "/models/mm"]).animatediff_model_dir == "/models/mm"
    assert parser.parse_args([]).animatediff_model_dir is None


def test_check_mode_reports_missing_requirements_by_exit_code(tmp_path):
    import shutil
    import subprocess
    import sys

    assert subprocess.run([sys.executable, str(REPO / "install.py"), "--check"], cwd=tmp_path).returncode == 0
    copy = tmp_path / "ext"
    copy.mkdir()
    shutil.copy(REPO / "install.py", copy / "install.py")
    (copy / "requirements.txt").write_text("surely-not-an-installed-distribution-xyz\n")
    assert subprocess.run([sys.executable, str(copy / "install.py"), "--check"], cwd=tmp_path).returncode == 1
