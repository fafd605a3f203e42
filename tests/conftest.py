"""Shared fixtures: the reference data beside the checkout, and small random models."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
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


@pytest.fixture
def warnings_seen() -> Iterator[list[str]]:
    """What the extension's logger warns (it does not propagate to pytest's caplog)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                records.append(record.getMessage())

    handler = Collect()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
