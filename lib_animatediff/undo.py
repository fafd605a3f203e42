"""A record of changes made to objects we do not own, undone in reverse order.

Everything a job changes in the WebUI goes through its one ``UndoStack``, so leaving is one
call whatever happened in between, like ``contextlib.ExitStack``. Changes that last less than
the job (while img2img builds its sampler, while sampling runs, one FreeInit pass) sit in named
scopes of the same stack, each undone on its own when it closes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from .log import logger

T = TypeVar("T")


class UndoStack:
    def __init__(self) -> None:
        # a step's description and its undo; None marks where the scope of that name opened
        self._undo: list[tuple[str, Callable[[], None] | None]] = []

    def __len__(self) -> int:
        """The changes not undone yet."""
        return sum(undo is not None for _, undo in self._undo)

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

    def wrap(self, owner: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        """``owner.name`` replaced by ``wrapper(owner.name)`` until undone, for a function that
        other extensions wrap too. One that wraps ours in turn keeps calling it (sd-webui-controlnet
        keeps the function it found and puts it back on its own unload): undo then cannot take ours
        out without taking theirs along, so ours stays and steps aside, every call going straight
        to what it wrapped. Wrapping again over such a leftover wraps what it wrapped."""
        original = getattr(owner, name)
        while isinstance(original, Wrapped) and not original.active:
            original = original.original
        wrapped = Wrapped(original, wrapper(original))
        setattr(owner, name, wrapped)

        def undo() -> None:
            wrapped.active = False
            if getattr(owner, name, None) is wrapped:
                setattr(owner, name, original)

        self.callback(f"unwrap {getattr(owner, '__name__', type(owner).__name__)}.{name}", undo)

    def add_hook(self, module: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor], *, on_input: bool) -> None:
        """``transform`` applied to ``module``'s first input (``on_input``) or to its output
        whenever it runs, until undone. A hook leaves the module's children, parameters and
        state-dict keys as they are, so whatever loads weights by name meanwhile finds them."""
        if on_input:
            handle = module.register_forward_pre_hook(InputHook(transform))
        else:
            handle = module.register_forward_hook(OutputHook(transform))
        self.callback(f"remove a {'pre-' if on_input else ''}hook from {type(module).__name__}", handle.remove)

    def open_scope(self, name: str) -> None:
        """From here, changes belong to scope ``name`` until :meth:`close_scope` (scopes nest)."""
        self._undo.append((name, None))

    def close_scope(self, name: str) -> bool:
        """Undo the changes of the innermost open scope ``name`` and the scopes inside it;
        False (and nothing undone) when no scope of that name is open."""
        if (name, None) not in self._undo:
            return False
        first = len(self._undo) - 1 - self._undo[::-1].index((name, None))
        self._undo_down_to(first)
        return True

    def is_open(self, name: str) -> bool:
        return (name, None) in self._undo

    @contextmanager
    def scope(self, name: str) -> Iterator[UndoStack]:
        """The ``with`` block's changes, undone when it ends."""
        self.open_scope(name)
        try:
            yield self
        finally:
            self.close_scope(name)

    def undo_all(self) -> None:
        """Undo every change, newest first; one failing step does not stop the others."""
        self._undo_down_to(0)

    def _undo_down_to(self, length: int) -> None:
        first_error: BaseException | None = None
        while len(self._undo) > length:
            description, undo = self._undo.pop()
            if undo is None:
                continue
            try:
                undo()
            except BaseException as error:  # noqa: BLE001 - keep restoring, report after
                logger.error("could not undo '%s': %s", description, error)
                first_error = first_error or error
        if first_error is not None:
            raise first_error


class Wrapped:
    """A function wrapped by :meth:`UndoStack.wrap`: ``replacement`` while active, ``original`` after."""

    def __init__(self, original: Callable[..., Any], replacement: Callable[..., Any]) -> None:
        functools.update_wrapper(self, original, updated=())  # its name and docs, for whoever inspects it
        self.original, self.replacement, self.active = original, replacement, True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self.replacement if self.active else self.original)(*args, **kwargs)


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
    if hasattr(getattr(type(obj), name, None), "__set__"):  # a property's value is the object's own
        return True
    if isinstance(obj, nn.Module):
        return name in obj._parameters or name in obj._buffers or name in obj._modules
    return False
