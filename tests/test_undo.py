"""The undo stack puts back exactly what was there, newest first, whatever fails."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lib_animatediff.undo import UndoStack, hooked_transforms


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


def test_hooks_transform_a_layers_input_or_output_until_undone_and_leave_its_keys():
    layer = nn.Linear(2, 2)
    seq = nn.Sequential(layer, nn.ReLU())
    keys, x = list(seq.state_dict()), torch.tensor([[1.0, -2.0]])
    plain = seq(x)
    with UndoStack() as undo:
        undo.add_hook(layer, lambda t: t * 10, on_input=True)
        torch.testing.assert_close(seq(x), torch.relu(layer.weight @ (x * 10).T + layer.bias[:, None]).T)
        undo.add_hook(layer, lambda t: -t, on_input=False)
        torch.testing.assert_close(seq(x), torch.relu(-(layer.weight @ (x * 10).T + layer.bias[:, None])).T)
        assert list(seq.state_dict()) == keys and len(hooked_transforms(seq)) == 2
    torch.testing.assert_close(seq(x), plain)
    assert not layer._forward_hooks and not layer._forward_pre_hooks and not hooked_transforms(seq)


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


def test_a_scope_undoes_its_own_changes_and_the_scopes_inside_it_only():
    state = {"job": 0, "sampling": 0, "pass": 0}
    undo = UndoStack()
    undo.set_item(state, "job", 1)
    undo.open_scope("sampling")
    undo.set_item(state, "sampling", 1)
    undo.open_scope("pass")
    undo.set_item(state, "pass", 1)
    assert undo.is_open("pass") and len(undo) == 3
    assert undo.close_scope("sampling") is True  # the pass inside it goes too
    assert state == {"job": 1, "sampling": 0, "pass": 0} and not undo.is_open("pass") and len(undo) == 1
    assert undo.close_scope("sampling") is False  # closing again changes nothing
    assert state["job"] == 1
    with undo.scope("pass"):
        undo.set_item(state, "pass", 2)
    assert state == {"job": 1, "sampling": 0, "pass": 0}
    undo.undo_all()
    assert state == {"job": 0, "sampling": 0, "pass": 0}


def test_a_scope_is_closed_when_its_block_raises():
    state = {"x": 0}
    undo = UndoStack()
    with pytest.raises(ValueError):
        with undo.scope("sampling"):
            undo.set_item(state, "x", 1)
            raise ValueError
    assert state == {"x": 0} and not undo.is_open("sampling")


def test_a_propertys_value_is_set_back_through_the_property():
    class Params:
        def __init__(self):
            self._hint = "full"

        @property
        def hint(self):
            return self._hint

        @hint.setter
        def hint(self, value):
            self._hint = value

    params = Params()
    with UndoStack() as undo:
        undo.set_attr(params, "hint", "narrowed")
        assert params.hint == "narrowed"
    assert params.hint == "full"
