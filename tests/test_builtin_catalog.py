"""The built-in catalog against the reference layouts: every motion module's family is the one
its published key layout is detected as, and its published size fits that layout's tensors
(stored in float16 or float32); motion LoRAs target the family their key pattern belongs to."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import pytest

from conftest import layout_state_dict, reference_json
from lib_animatediff.downloads.catalog import HUGGING_FACE, FileKind, load_catalog
from lib_animatediff.model.detection import detect_layout
from lib_animatediff.model.families import BaseModel

CATALOG = load_catalog()
MODULES = [file for file in CATALOG.values() if file.kind is FileKind.MOTION_MODULE]
HEADER_BYTES = 1_000_000  # what a pickle's or a safetensors header adds to the tensors (about 0.2 MB seen)


def test_the_catalog_covers_every_family_and_the_motion_loras() -> None:
    families = {file.family.name for file in MODULES}
    assert families == {"v1", "v2", "v3", "animatelcm", "sdxl", "hotshotxl"}
    assert len([file for file in CATALOG.values() if file.kind is FileKind.MOTION_LORA]) == 8
    assert {file.base for file in CATALOG.values()} == set(BaseModel)
    assert {file.kind for file in CATALOG.values()} == set(FileKind)


def test_sparsectrl_models_are_controlnet_models_for_v3() -> None:
    sparse = {name: file for name, file in CATALOG.items() if "sparsectrl" in name}
    assert sorted(sparse) == ["mm_sd15_v3_sparsectrl_rgb.safetensors", "mm_sd15_v3_sparsectrl_scribble.safetensors"]
    assert all(file.kind is FileKind.CONTROLNET and file.family.name == "v3" for file in sparse.values())


@pytest.mark.parametrize("file", MODULES, ids=lambda file: file.name)
def test_a_module_is_its_family_by_the_published_layout_and_its_size(file) -> None:
    state_dict = layout_state_dict(file.family.name)
    assert detect_layout(state_dict, file.name).family is file.family
    if file.size is None:  # the publisher lists only a rounded size; the SHA-256 is checked
        assert file.sha256 is not None
        return
    elements = sum(math.prod(tensor.shape) for tensor in state_dict.values())
    assert any(0 <= file.size - elements * width <= HEADER_BYTES for width in (2, 4)), (
        f"{file.name}: {file.size} bytes are not the {elements} parameters of {file.family.title} in float16 or float32"
    )


@pytest.mark.parametrize("file", [f for f in CATALOG.values() if f.kind is FileKind.MOTION_LORA], ids=lambda file: file.name)
def test_a_motion_lora_targets_the_family_of_its_key_pattern(file) -> None:
    assert file.family.name == reference_json("layouts/motion_lora.json")["target_family"].split()[0]


@pytest.mark.parametrize("file", list(CATALOG.values()), ids=lambda file: file.name)
def test_every_entry_is_a_direct_https_download_with_its_facts(file) -> None:
    url = urlsplit(file.url)
    assert file.url.startswith(HUGGING_FACE + "/") and url.path.endswith("/" + file.name), file.url
    assert "/resolve/main/" in url.path, f"{file.url} is a page, not the file"
    assert file.licence and file.publisher and len(file.description) > 20
    assert file.sha256 is not None or file.size is not None
