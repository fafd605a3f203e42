"""Shared fixtures: the reference data beside the checkout, and small random models."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from lib_animatediff.log import logger

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("ANIMATEDIFF_REFERENCE_DIR", REPO.parent / "shared" / "reference"))

# SD 1.5- and SDXL-shaped channel counts, reduced so a test UNet builds in a second.
SD15_CHANNELS = (32, 64, 64, 64)
SDXL_CHANNELS = (32, 64, 96)


def reference_json(relative: str) -> dict:
    path = REFERENCE / relative
    if not path.is_file():
        pytest.fail(f"reference data missing: {path} (set ANIMATEDIFF_REFERENCE_DIR)")
    return json.loads(path.read_text())


def layout_state_dict(family_file: str, device: str = "meta", dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """Tensors of every key and shape a published file of this family holds."""
    keys = reference_json(f"layouts/{family_file}.json")["keys"]
    return {key: torch.empty(shape, device=device, dtype=dtype) for key, shape in keys}


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def _collected(shown: Callable[[logging.LogRecord], str | None]) -> Iterator[list[str]]:
    """The extension's log while a test runs (its logger does not propagate to pytest's caplog),
    each record as ``shown`` writes it; a record it gives None is left out."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if (line := shown(record)) is not None:
                lines.append(line)

    handler = Collect()
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Everything the extension logs, as ``LEVEL: message``."""
    yield from _collected(lambda record: f"{record.levelname}: {record.getMessage()}")


@pytest.fixture
def warnings_seen() -> Iterator[list[str]]:
    """What the extension's logger warns (the messages)."""
    yield from _collected(lambda record: record.getMessage() if record.levelno >= logging.WARNING else None)
