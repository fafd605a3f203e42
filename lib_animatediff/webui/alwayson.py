"""A1111's always-on scripts of a processing object, and the arguments each one owns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def alwayson_script(p: Any, title: str) -> Any | None:
    """The always-on script of ``p`` titled ``title`` (any case), if ``p`` runs scripts."""
    scripts = getattr(getattr(p, "scripts", None), "alwayson_scripts", None) or []
    return next((script for script in scripts if script.title().lower() == title.lower()), None)


def own_args(script: Any, args: Sequence[Any]) -> Sequence[Any]:
    """The slice of a run's script arguments that belongs to ``script``."""
    return args[script.args_from : script.args_to]


def script_args(p: Any, title: str) -> Sequence[Any] | None:
    """The arguments ``p`` runs its always-on script titled ``title`` with; None when ``p`` has
    no such script or no script arguments."""
    script, args = alwayson_script(p, title), getattr(p, "script_args", None)
    return None if script is None or not args else own_args(script, args)
