"""The installed motion modules: families from headers alone, filtering by checkpoint, labels."""

from __future__ import annotations

import os

import torch

from lib_animatediff.devtools.random_weights import random_motion_modules, save_motion_modules
from lib_animatediff.model.checkpoint import checkpoint_base
from lib_animatediff.model.families import SDXL, V2, V3, BaseModel
from lib_animatediff.model.installed import InstalledModules, shapes_of, strip_mark

SMALL_SD15 = (32, 64, 64, 64)
SMALL_SDXL = (32, 64, 64)


def _folder(tmp_path):
    (tmp_path / "sub").mkdir()
    save_motion_modules(random_motion_modules(V2, SMALL_SD15), tmp_path / "mm_v2.safetensors")
    save_motion_modules(random_motion_modules(V3, SMALL_SD15), tmp_path / "sub" / "mm_v3.ckpt")
    save_motion_modules(random_motion_modules(SDXL, SMALL_SDXL), tmp_path / "mm_sdxl.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    return tmp_path


def test_families_are_marked_and_checkpoints_filter_the_choices(tmp_path):
    folder = _folder(tmp_path)
    installed = InstalledModules()
    entries = {entry.name: entry for entry in installed.entries(folder)}
    assert entries["mm_v2.safetensors"].family is V2 and entries["sub/mm_v3.ckpt"].family is V3
    assert entries["mm_sdxl.safetensors"].family is SDXL
    assert entries["broken.safetensors"].family is None
    assert installed.choices(folder, BaseModel.SD15) == [f"mm_v2.safetensors [{V2.title}]", f"sub/mm_v3.ckpt [{V3.title}]"]
    assert installed.choices(folder, BaseModel.SDXL) == [f"mm_sdxl.safetensors [{SDXL.title}]"]
    assert len(installed.choices(folder, None)) == 3  # no checkpoint loaded: every readable module


def test_labels_strip_back_to_file_names():
    assert strip_mark(f"sub/mm_v3.ckpt [{V3.title}]") == "sub/mm_v3.ckpt"
    assert strip_mark("mm [x].ckpt") == "mm [x].ckpt" and strip_mark("plain.safetensors") == "plain.safetensors"


def test_shapes_only_and_results_kept_per_file_version(tmp_path):
    path = save_motion_modules(random_motion_modules(V2, SMALL_SD15), tmp_path / "mm.safetensors")
    shapes = shapes_of(path)
    assert all(tensor.device.type == "meta" for tensor in shapes.values())
    installed = InstalledModules()
    assert installed.entries(tmp_path)[0].family is V2
    save_motion_modules(random_motion_modules(V3, SMALL_SD15), path)  # replaced by another family
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert installed.entries(tmp_path)[0].family is V3


def test_pickles_are_read_memory_mapped(tmp_path):
    modules = random_motion_modules(V2, SMALL_SD15)
    torch.save({"state_dict": modules.state_dict()}, tmp_path / "wrapped.ckpt")
    assert InstalledModules().entries(tmp_path)[0].family is V2


def test_checkpoint_base_from_the_header(tmp_path):
    from safetensors.torch import save_file

    def save(path, *keys):
        save_file({key: torch.zeros(1) for key in keys}, str(tmp_path / path))

    save("sd15.safetensors", "model.diffusion_model.out.2.weight", "cond_stage_model.transformer.x")
    save("xl.safetensors", "model.diffusion_model.out.2.weight", "conditioner.embedders.1.model.ln_final.weight")
    save("refiner.safetensors", "conditioner.embedders.0.model.x")
    save("other.safetensors", "something")
    (tmp_path / "old.ckpt").write_bytes(b"")
    assert checkpoint_base(tmp_path / "sd15.safetensors") is BaseModel.SD15
    assert (
        checkpoint_base(tmp_path / "xl.safetensors") is BaseModel.SDXL
        and checkpoint_base(tmp_path / "refiner.safetensors") is BaseModel.SDXL
    )
    assert checkpoint_base(tmp_path / "other.safetensors") is None and checkpoint_base(tmp_path / "old.ckpt") is None
    assert checkpoint_base(tmp_path / "missing.safetensors") is None
