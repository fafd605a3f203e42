"""Run by A1111 at start-up: installs the extension's missing requirements, quietly."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Iterable

REQUIREMENTS = Path(__file__).with_name("requirements.txt")


def requirement_lines(path: Path = REQUIREMENTS) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def distribution_name(requirement: str) -> str:
    """``imageio-ffmpeg>=0.4`` → ``imageio-ffmpeg``."""
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]


def missing(requirements: Iterable[str], is_installed: Callable[[str], bool]) -> list[str]:
    return [req for req in requirements if not is_installed(distribution_name(req))]


def install(is_installed: Callable[[str], bool], run_pip: Callable[[str, str], object]) -> list[str]:
    """Install what is missing; returns it (nothing is printed when all is present)."""
    needed = missing(requirement_lines(), is_installed)
    for requirement in needed:
        run_pip(f'install "{requirement}"', f"AnimateDiff requirement: {requirement}")
    return needed


def _installed(distribution: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


if __name__ == "__main__" and sys.argv[1:] == ["--check"]:
    # `python install.py --check`: exit 1 when a requirement is missing (for test set-ups)
    sys.exit(1 if missing(requirement_lines(), _installed) else 0)

# A1111 runs this file with its own folder on the path, so its `launch` module is there;
# elsewhere (the tests) it is not, and importing this file installs nothing.
try:
    import launch
except ImportError:
    launch = None
if launch is not None and hasattr(launch, "run_pip"):
    install(launch.is_installed, launch.run_pip)
