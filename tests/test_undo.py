"""The undo stack puts back exactly what was there, newest first, whatever fails."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lib_animatediff.undo import UndoStack


def test_inherited_attribute_is_deleted_again_not_shadowed():
    norm = nn.GroupNorm(2, 4)
    with UndoStack() as undo:
        undo.set_attr(norm, "forward", lambda x: x)
        assert "forward" in vars(norm)
    assert "forward" not in vars(norm)
    assert norm.forward.__func__ is nn.GroupNorm.forward


def test_buffer_and_plain_attribute_are_restored_by_identity():
    module = nn.Module()
    module.register_buffer("alphas_cumprod", torch.ones(3))
    original = module.alphas_cumprod
    module.label = "original"
    with UndoStack() as undo:
        undo.set_attr(module, "alphas_cumprod", torch.zeros(3))
        undo.set_attr(module, "label", "changed")
        assert torch.equal(module.alphas_cumprod, torch.zeros(3))
    assert module.alphas_cumprod is original and "alphas_cumprod" in module._buffers
    assert module.label == "original"


def test_inserted_module_is_removed_and_numbering_restored():
    seq = nn.Sequential(nn.Identity(), nn.ReLU())
    keys = list(seq._modules)
    with UndoStack() as undo:
        undo.insert_module(seq, 1, nn.Tanh())
        assert [type(m) for m in seq] == [nn.Identity, nn.Tanh, nn.ReLU]
    assert [type(m) for m in seq] == [nn.Identity, nn.ReLU]
    assert list(seq._modules) == keys


def test_undo_runs_newest_first_and_continues_past_a_failure():
    order = []
    undo = UndoStack()
    undo.callback("first", lambda: order.append("first"))
    undo.callback("broken", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    undo.callback("last", lambda: order.append("last"))
    with pytest.raises(RuntimeError, match="boom"):
        undo.undo_all()
    assert order == ["last", "first"]
    assert len(undo) == 0
