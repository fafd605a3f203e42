"""A local HTTP server for trying downloads without the internet (tests, demos).

It serves files from a folder under the paths they have there, answers range requests as
Hugging Face does (206 with Content-Range), and can be told to break a connection after a
number of bytes, or to ignore ranges, to show what a download does then.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class ServerBehaviour:
    root: Path
    break_after: dict[str, int] = field(default_factory=dict)  # URL path → bytes sent before the connection drops
    ignore_ranges: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header) as they came


def _handler(behaviour: ServerBehaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            behaviour.requests.append((path, self.headers.get("Range")))
            file = (behaviour.root / path.lstrip("/")).resolve()
            if behaviour.root.resolve() not in file.parents or not file.is_file():
                self.send_error(404, "Not Found")
                return
            data = file.read_bytes()
            start = self._range_start(len(data))
            if start is None:
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            limit = behaviour.break_after.pop(path, None)
            self.wfile.write(data[start:] if limit is None else data[start : start + limit])
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
