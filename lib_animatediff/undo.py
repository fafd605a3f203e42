"""A record of changes made to objects we do not own, undone in reverse order.

Everything the extension changes in the WebUI goes through one ``UndoStack``, so leaving
is one call whatever happened in between, like ``contextlib.ExitStack``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, TypeVar

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

    def insert_module(self, container: nn.Sequential, index: int, module: nn.Module) -> None:
        """Insert into an ``nn.Sequential``; undo removes that very module again."""
        container.insert(index, module)

        def remove() -> None:
            position = next(i for i, child in enumerate(container) if child is module)
            del container[position]

        self.callback(f"remove {type(module).__name__} from {type(container).__name__}", remove)

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


def _owns_attribute(obj: Any, name: str) -> bool:
    if name in getattr(obj, "__dict__", {}):
        return True
    if isinstance(obj, nn.Module):
        return name in obj._parameters or name in obj._buffers or name in obj._modules
    return False
