"""The one place that holds what the extension keeps in the running WebUI between jobs.

It lives in the library rather than the script file because A1111 re-executes script files
on "Reload UI" while imported packages stay: a change made before a reload is still found
and undone after it. Every job starts by healing whatever an earlier one left behind.

Each part has one job: :class:`WebUIScope` knows which scope of which job's undo stack is
changing the WebUI now (and undoes it when that job never ended it); the module cache, the
hash cache, the catalog's installed files and downloads are kept for the next job or request;
``lasting`` holds the changes made for as long as the extension is loaded (undone when the
WebUI unloads its scripts);
``video`` is the video of the model call running now, for layers other extensions call
without a frame count (SparseCtrl's motion modules). The job reaches them through its host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..downloads.tasks import Downloads
from ..log import logger
from ..model.hashing import HashCache, short_hash
from ..model.injection import VideoInCall
from ..model.installed import InstalledModules
from ..model.module_cache import ModuleCache
from ..undo import UndoStack


class WebUIScope:
    """The scope of a job's undo stack that has the WebUI changed now (one at a time)."""

    def __init__(self) -> None:
        self._open: tuple[UndoStack, str] | None = None

    @property
    def active(self) -> bool:
        return self._open is not None and self._open[0].is_open(self._open[1])

    def begin(self, stack: UndoStack, scope: str) -> None:
        """``stack``'s changes from now on, in scope ``scope``, are the WebUI's: undone by
        :meth:`end`, or by the next :meth:`heal` if the job never ends them. An earlier job's
        are healed first."""
        self.heal()
        stack.open_scope(scope)
        self._open = (stack, scope)

    def end(self, stack: UndoStack) -> None:
        """Undo ``stack``'s scope that has the WebUI changed, if one is open (another job's is
        left alone)."""
        if self._open is not None and self._open[0] is stack:
            self._close()

    @contextmanager
    def changes(self, stack: UndoStack, scope: str) -> Iterator[UndoStack]:
        """``begin`` … ``end`` around a block."""
        self.begin(stack, scope)
        try:
            yield stack
        finally:
            self.end(stack)

    def heal(self) -> bool:
        if not self.active:
            self._open = None
            return False
        logger.warning("restoring the WebUI from a job that did not finish cleanly")
        self._close()
        return True

    def _close(self) -> None:
        open_scope, self._open = self._open, None
        if open_scope is not None:
            stack, scope = open_scope
            stack.close_scope(scope)


class WebUIKeeping:
    def __init__(self) -> None:
        self.scope = WebUIScope()
        self.modules = ModuleCache(busy=lambda: self.scope.active)
        self.installed = InstalledModules()
        self.downloads = Downloads()
        self.video: VideoInCall | None = None
        self.lasting = UndoStack()
        self._hashes: HashCache | None = None

    def share_video(self, video: VideoInCall) -> Callable[[], None]:
        """``video`` is the running call's until the returned function is called."""
        self.video = video
        return lambda: setattr(self, "video", None)

    def hashes(self, cache_file: Path) -> HashCache:
        """The hashes of model files, kept in ``cache_file``."""
        if self._hashes is None or self._hashes.cache_file != cache_file:
            self._hashes = HashCache(cache_file)
        return self._hashes

    def short_hash(self, path: Path, cache_file: Path) -> str:
        """The file's sha256 as infotext shows it, computed once per file version."""
        return short_hash(self.hashes(cache_file).sha256(path))


WEBUI = WebUIKeeping()
