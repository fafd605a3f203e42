"""The undo stack puts back exactly what was there, newest first, whatever fails."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from lib_animatediff.undo import UndoStack, Wrapped, hooked_transforms


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


class WrappingExtension:
    """Another extension wrapping the same function as sd-webui-controlnet does: at load it
    first puts back whatever it kept from an earlier load, then keeps the function it finds
    and puts its wrapper in place; at unload it puts back what it kept."""

    def __init__(self, owner: SimpleNamespace, calls: list[str]) -> None:
        self.owner, self.calls, self.kept = owner, calls, None

    def load(self) -> None:
        self.unload()
        self.kept = self.owner.process_batch
        self.owner.process_batch = self.wrapper

    def unload(self) -> None:
        if self.kept is not None:
            self.owner.process_batch, self.kept = self.kept, None

    def wrapper(self, *args):
        self.calls.append("other")
        return self.kept(*args)


def _layers(function, other: WrappingExtension) -> int:
    """How many wrappers a call passes before the WebUI's own function."""
    layers = 0
    while function is not other.owner.loop:
        layers += 1
        function = function.original if isinstance(function, Wrapped) else other.kept
    return layers


@pytest.mark.parametrize("ours_first", [True, False])
def test_a_function_another_extension_wraps_too_is_ours_to_wrap_and_unwrap_through_reloads(ours_first):
    calls: list[str] = []
    webui = SimpleNamespace(loop=lambda *args: calls.append("loop") or "looped")
    webui.process_batch = webui.loop
    other, lasting = WrappingExtension(webui, calls), UndoStack()

    def ours(original):
        def wrapper(*args):
            calls.append("ours")
            return original(*args)

        return wrapper

    def load_ours():
        lasting.undo_all()
        lasting.wrap(webui, "process_batch", ours)

    loads = [load_ours, other.load] if ours_first else [other.load, load_ours]
    unloads = [lasting.undo_all, other.unload] if ours_first else [other.unload, lasting.undo_all]  # in load order
    for reload in range(3):
        for load in loads:
            load()
        calls.clear()
        assert webui.process_batch("p") == "looped"
        assert sorted(calls) == ["loop", "other", "ours"], f"reload {reload}: {calls}"
        assert _layers(webui.process_batch, other) == 2, f"reload {reload}: wrappers pile up"
        for unload in unloads:
            unload()
        calls.clear()
        assert webui.process_batch("p") == "looped" and calls == ["loop"], f"after unload {reload}: {calls}"
