"""What a job changed is undone at the end, and healed by the next job if it was not."""

from __future__ import annotations

import torch

from lib_animatediff.devtools.random_weights import random_motion_modules, save_motion_modules
from lib_animatediff.model.families import V2
from lib_animatediff.webui.state import WebUIChanges


class FakeModel:
    def __init__(self):
        self.apply_model = "original"


def test_a_job_that_did_not_end_is_healed_by_the_next():
    changes = WebUIChanges()
    model, options = FakeModel(), {"batch_cond_uncond": False}
    undo = changes.begin()
    undo.set_attr(model, "apply_model", "wrapped")
    undo.set_item(options, "batch_cond_uncond", True)
    assert changes.active
    # the job died here without calling end()
    assert changes.heal() is True
    assert vars(model) == {"apply_model": "original"} and options == {"batch_cond_uncond": False}
    assert changes.heal() is False


def test_begin_heals_first_and_end_undoes():
    changes = WebUIChanges()
    model = FakeModel()
    changes.begin().set_attr(model, "apply_model", "first job")
    changes.begin().set_attr(model, "apply_model", "second job")
    assert model.apply_model == "second job"
    changes.end()
    assert model.apply_model == "original" and not changes.active


def test_loaded_modules_are_reused_until_the_file_changes(tmp_path):
    path = tmp_path / "mm.safetensors"
    save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64), seed=1), path)
    changes = WebUIChanges()
    first = changes.motion_modules(path)
    assert changes.motion_modules(path) is first
    save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64), seed=2), path)
    second = changes.motion_modules(path)
    assert second is not first
    assert not torch.equal(next(first.parameters()), next(second.parameters()))


def test_short_hash_is_cached_in_the_given_file(tmp_path):
    import hashlib

    path = tmp_path / "mm.safetensors"
    path.write_bytes(b"weights")
    changes = WebUIChanges()
    cache_file = tmp_path / "cache" / "hashes.json"
    assert changes.short_hash(path, cache_file) == hashlib.sha256(b"weights").hexdigest()[:10]
    assert cache_file.is_file()


def test_free_and_move_to_cpu_wait_for_a_running_job(tmp_path):
    path = save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64)), tmp_path / "mm.safetensors")
    changes = WebUIChanges()
    first = changes.motion_modules(path)
    changes.begin().set_attr(FakeModel(), "apply_model", "wrapped")
    changes.forget_modules()  # a job is sampling with them: kept
    assert changes.motion_modules(path) is first
    changes.end()
    changes.modules_to_cpu()
    assert first.device.type == "cpu"
    changes.forget_modules()
    assert changes.motion_modules(path) is not first  # loaded again
