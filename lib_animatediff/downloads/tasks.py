"""Downloads running in the background, one per catalog name, with their progress.

The accordion and the API start a download and come back for its progress; the work runs in
a daemon thread so neither a gradio event nor an HTTP request waits for hundreds of MB.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import AnimateDiffError
from ..log import logger
from .catalog import CatalogFile
from .download import download

RUNNING, DONE, FAILED = "downloading", "done", "failed"


@dataclass
class DownloadStatus:
    name: str
    state: str  # RUNNING, DONE or FAILED
    downloaded: int  # bytes on disk
    total: int | None  # bytes expected, where the catalog or the server says
    message: str = ""  # what failed, or where the file is
    path: str | None = None

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Downloads:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[str, DownloadStatus] = {}

    def start(self, file: CatalogFile, url: str, folder: Path, finished: Callable[[Path], None] = lambda path: None) -> DownloadStatus:
        """Start downloading ``file`` unless it is downloading already; its status either way.
        ``finished`` runs in the download's thread after the file is in place."""
        with self._lock:
            current = self._statuses.get(file.name)
            if current is not None and current.running:
                return _copy(current)
            status = self._statuses[file.name] = DownloadStatus(file.name, RUNNING, 0, file.size, f"downloading from {url}")
        threading.Thread(target=self._run, args=(file, url, folder, status, finished), name=f"animatediff-download-{file.name}", daemon=True).start()
        return _copy(status)

    def status(self, name: str) -> DownloadStatus | None:
        with self._lock:
            status = self._statuses.get(name)
            return None if status is None else _copy(status)

    def _run(self, file: CatalogFile, url: str, folder: Path, status: DownloadStatus, finished: Callable[[Path], None]) -> None:
        def report(done: int, total: int | None) -> None:
            with self._lock:
                status.downloaded, status.total = done, total

        logger.info("downloading %s from %s into %s", file.name, url, folder)
        try:
            path = download(file, url, folder, report)
            finished(path)
        except Exception as error:  # noqa: BLE001 - every failure ends as the task's message, never in the thread
            message = str(error) if isinstance(error, AnimateDiffError) else f"{file.name}: {type(error).__name__}: {error}"
            logger.error("download failed: %s", message)
            with self._lock:
                status.state, status.message = FAILED, message
            return
        logger.info("downloaded %s", path)
        with self._lock:
            size = path.stat().st_size
            status.state, status.downloaded, status.total, status.message, status.path = DONE, size, size, f"saved as {path}", str(path)


def _copy(status: DownloadStatus) -> DownloadStatus:
    return DownloadStatus(**asdict(status))
