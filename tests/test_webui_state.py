"""What a job changed in the WebUI is undone at the end, and healed by the next job if it was not."""

from __future__ import annotations

import torch

from lib_animatediff.devtools.random_weights import random_motion_modules, save_motion_modules
from lib_animatediff.model.families import V2
from lib_animatediff.model.module_cache import ModuleCache
from lib_animatediff.undo import UndoStack
from lib_animatediff.webui.state import WebUIKeeping, WebUIScope


class FakeModel:
    def __init__(self):
        self.apply_model = "original"


def test_a_job_that_did_not_end_its_webui_scope_is_healed_by_the_next():
    scope, job = WebUIScope(), UndoStack()
    model, options, processing = FakeModel(), {"batch_cond_uncond": False}, FakeModel()
    job.set_attr(processing, "apply_model", "the job's own")
    scope.begin(job, "sampling")
    job.set_attr(model, "apply_model", "wrapped")
    job.set_item(options, "batch_cond_uncond", True)
    assert scope.active
    # the job died here without ending its scope
    assert scope.heal() is True
    assert vars(model) == {"apply_model": "original"} and options == {"batch_cond_uncond": False}
    assert processing.apply_model == "the job's own"  # outside the WebUI scope: the job's to undo
    assert scope.heal() is False


def test_begin_heals_first_and_end_undoes_only_its_own_jobs_scope():
    scope, first, second = WebUIScope(), UndoStack(), UndoStack()
    model = FakeModel()
    scope.begin(first, "sampling")
    first.set_attr(model, "apply_model", "first job")
    scope.begin(second, "sampling")
    assert model.apply_model == "original"  # the first job's scope was healed
    second.set_attr(model, "apply_model", "second job")
    scope.end(first)  # not the open one: nothing happens
    assert model.apply_model == "second job" and scope.active
    scope.end(second)
    assert model.apply_model == "original" and not scope.active


def test_a_scope_closed_on_the_stack_is_no_longer_active():
    scope, job = WebUIScope(), UndoStack()
    with scope.changes(job, "sampling"):
        with job.scope("pass"):
            assert scope.active
        assert scope.active
    assert not scope.active and len(job) == 0


def test_loaded_modules_are_reused_until_the_file_changes(tmp_path):
    path = tmp_path / "mm.safetensors"
    save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64), seed=1), path)
    cache = ModuleCache()
    first = cache.get(path)
    assert cache.get(path) is first
    save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64), seed=2), path)
    second = cache.get(path)
    assert second is not first
    assert not torch.equal(next(first.parameters()), next(second.parameters()))


def test_short_hash_is_cached_in_the_given_file(tmp_path):
    import hashlib

    path = tmp_path / "mm.safetensors"
    path.write_bytes(b"weights")
    keeping = WebUIKeeping()
    cache_file = tmp_path / "cache" / "hashes.json"
    assert keeping.short_hash(path, cache_file) == hashlib.sha256(b"weights").hexdigest()[:10]
    assert cache_file.is_file()


def test_free_and_move_to_cpu_wait_for_a_job_changing_the_webui(tmp_path):
    path = save_motion_modules(random_motion_modules(V2, (32, 64, 64, 64)), tmp_path / "mm.safetensors")
    keeping, job = WebUIKeeping(), UndoStack()
    first = keeping.modules.get(path)
    keeping.scope.begin(job, "sampling")
    job.set_attr(FakeModel(), "apply_model", "wrapped")
    keeping.modules.forget()  # a job is sampling with them: kept
    assert keeping.modules.get(path) is first
    keeping.scope.end(job)
    keeping.modules.to_cpu()
    assert first.device.type == "cpu"
    keeping.modules.forget()
    assert keeping.modules.get(path) is not first  # loaded again
