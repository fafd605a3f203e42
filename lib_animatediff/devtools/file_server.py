"""A local HTTP server for trying downloads without the internet (tests, demos).

It serves files from a folder under the paths they have there, answers range requests as
Hugging Face does (206 with Content-Range), and can be told to break a connection after a
number of bytes, or to ignore ranges, to show what a download does then.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class ServerBehaviour:
    root: Path
    break_after: dict[str, int] = field(default_factory=dict)  # URL path → bytes sent before the connection drops
    ignore_ranges: bool = False
    bytes_per_s: float | None = None  # a slow server, to watch a download's progress
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header) as they came


class _Limited:
    """At most ``left`` bytes of a stream, for copyfileobj, at most ``bytes_per_s`` a second."""

    def __init__(self, stream: BinaryIO, left: int, bytes_per_s: float | None) -> None:
        self.stream, self.left, self.bytes_per_s = stream, left, bytes_per_s

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(chunk)
        if self.bytes_per_s:
            time.sleep(len(chunk) / self.bytes_per_s)
        return chunk


def _handler(behaviour: ServerBehaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            behaviour.requests.append((path, self.headers.get("Range")))
            file = (behaviour.root / path.lstrip("/")).resolve()
            if behaviour.root.resolve() not in file.parents or not file.is_file():
                self.send_error(404, "Not Found")
                return
            size = file.stat().st_size
            start = self._range_start(size)
            if start is None:
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            limit = behaviour.break_after.pop(path, None)
            with open(file, "rb") as stream:
                stream.seek(start)
                shutil.copyfileobj(_Limited(stream, size - start if limit is None else limit, behaviour.bytes_per_s), self.wfile)
            if limit is not None:
                self.close_connection = True

        def _range_start(self, size: int) -> int | None:
            match = _RANGE.match(self.headers.get("Range") or "")
            if match is None or behaviour.ignore_ranges:
                return 0
            start = int(match.group(1))
            if start >= size:
                self.send_error(416, "Range Not Satisfiable")
                return None
            return start

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass

    return Handler


@contextmanager
def serving(behaviour: ServerBehaviour) -> Iterator[str]:
    """The server's base URL (``http://127.0.0.1:<port>``) for the ``with`` block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
