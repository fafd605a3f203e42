"""A record of changes made to objects we do not own, undone in reverse order.

Everything the extension changes in the WebUI goes through one ``UndoStack``, so leaving
is one call whatever happened in between, like ``contextlib.ExitStack``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from .log import logger

T = TypeVar("T")


class UndoStack:
    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def __len__(self) -> int:
        return len(self._undo)

    def __enter__(self) -> UndoStack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.undo_all()

    def callback(self, description: str, undo: Callable[[], None]) -> None:
        """Register an arbitrary undo step (run after everything registered later)."""
        self._undo.append((description, undo))

    def enter_context(self, manager: AbstractContextManager[T]) -> T:
        """Enter ``manager`` and leave it on undo, like ``contextlib.ExitStack.enter_context``."""
        value = manager.__enter__()
        self.callback(f"leave {type(manager).__name__}", lambda: manager.__exit__(None, None, None))
        return value

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        """``setattr(obj, name, value)``, undone by putting back exactly what was there.

        An attribute that was only inherited (a class's method, say) is deleted again on
        undo rather than shadowed by a copy, so later class-level changes still apply.
        """
        if _owns_attribute(obj, name):
            old = getattr(obj, name)
            self.callback(f"restore {type(obj).__name__}.{name}", lambda: setattr(obj, name, old))
        else:
            self.callback(f"remove {type(obj).__name__}.{name}", lambda: delattr(obj, name))
        setattr(obj, name, value)

    def set_item(self, mapping: dict, key: Any, value: Any) -> None:
        """``mapping[key] = value``, undone by restoring the old value or removing the key."""
        if key in mapping:
            old = mapping[key]
            self.callback(f"restore [{key!r}]", lambda: mapping.__setitem__(key, old))
        else:
            self.callback(f"remove [{key!r}]", lambda: mapping.pop(key, None))
        mapping[key] = value

    def add_hook(self, module: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor], *, on_input: bool) -> None:
        """``transform`` applied to ``module``'s first input (``on_input``) or to its output
        whenever it runs, until undone. A hook leaves the module's children, parameters and
        state-dict keys as they are, so whatever loads weights by name meanwhile finds them."""
        if on_input:
            handle = module.register_forward_pre_hook(InputHook(transform))
        else:
            handle = module.register_forward_hook(OutputHook(transform))
        self.callback(f"remove a {'pre-' if on_input else ''}hook from {type(module).__name__}", handle.remove)

    def undo_all(self) -> None:
        """Undo every change, newest first; one failing step does not stop the others."""
        first_error: BaseException | None = None
        while self._undo:
            description, undo = self._undo.pop()
            try:
                undo()
            except BaseException as error:  # noqa: BLE001 - keep restoring, report after
                logger.error("could not undo '%s': %s", description, error)
                first_error = first_error or error
        if first_error is not None:
            raise first_error


class InputHook:
    """A forward pre-hook that transforms a module's first input."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.transform = transform

    def __call__(self, _module: nn.Module, args: tuple) -> tuple:
        return (self.transform(args[0]), *args[1:])


class OutputHook:
    """A forward hook that transforms a module's output."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.transform = transform

    def __call__(self, _module: nn.Module, _args: tuple, output: torch.Tensor) -> torch.Tensor:
        return self.transform(output)


def hooked_transforms(root: nn.Module) -> list[tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor], bool]]:
    """Every transform an ``UndoStack`` hooked on ``root`` or a module inside it: (the module,
    the transform, whether it acts on the input)."""
    found = []
    for module in root.modules():
        for hooks, on_input in ((module._forward_pre_hooks, True), (module._forward_hooks, False)):
            found.extend((module, hook.transform, on_input) for hook in hooks.values() if isinstance(hook, (InputHook, OutputHook)))
    return found


def _owns_attribute(obj: Any, name: str) -> bool:
    if name in getattr(obj, "__dict__", {}):
        return True
    if isinstance(obj, nn.Module):
        return name in obj._parameters or name in obj._buffers or name in obj._modules
    return False
