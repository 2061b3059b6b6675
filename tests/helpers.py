"""Helpers shared by several test modules (``tests/`` is on the import path)."""

from __future__ import annotations

import os
import re
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from conveyor.io.tfrecord import masked_crc32c

CIFAR_RECORD = 1 + 32 * 32 * 3  # CIFAR-10's binary format: a label byte, then a CHW image


def frame_tfrecord(data: bytes) -> bytes:
    """One TFRecord as TensorFlow frames it: length, its masked CRC, data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def runner_threads() -> list[str]:
    """The names of the QueueRunner threads alive now."""
    return [t.name for t in threading.enumerate() if t.name.startswith("QueueRunnerThread")]


def wait_no_runner_threads(limit: float = 1.0) -> list[str]:
    """Wait up to ``limit`` seconds for every QueueRunner thread to end; the survivors."""
    deadline = time.monotonic() + limit
    while runner_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return runner_threads()


def write_cifar_files(folder: Path, per_file: int, files: int = 5) -> np.ndarray:
    """Write ``data_batch_1.bin`` ... ``data_batch_<files>.bin`` into *folder* (made if
    missing) in CIFAR-10's binary format, ``per_file`` random records each (labels 0-9);
    return every record, file by file, as an ``(n, 3073)`` ``uint8`` array."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    records = rng.integers(0, 256, size=(files * per_file, CIFAR_RECORD), dtype=np.uint8)
    records[:, 0] = rng.integers(0, 10, size=len(records))
    for i in range(files):
        part = records[i * per_file : (i + 1) * per_file]
        (folder / f"data_batch_{i + 1}.bin").write_bytes(part.tobytes())
    return records


_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class RangeServer:
    """Serves files from a directory over HTTP/1.1 with ``Range`` support, and logs
    every request as ``(method, path, range header or None, body bytes sent)``.

    Attributes:
        honour_range: ``False``: a server that ignores ``Range`` and always sends the
            whole file with status 200.
        cut_after: with ``cuts`` above 0, the next response announces its full length
            but sends only this many body bytes and drops the connection; each such
            response uses up one of ``cuts``.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.requests: list[tuple[str, str, str | None, int]] = []
        self.honour_range = True
        self.cut_after = 0
        self.cuts = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, with_body: bool) -> None:
                path = os.path.join(server.root, self.path.lstrip("/"))
                range_header = self.headers.get("Range")
                if not os.path.isfile(path):
                    server.requests.append((self.command, self.path, range_header, 0))
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with open(path, "rb") as f:
                    data = f.read()
                status, start, end = 200, 0, len(data)
                match = _RANGE.match(range_header or "") if server.honour_range else None
                if match:
                    start = int(match.group(1))
                    end = min(int(match.group(2)) + 1 if match.group(2) else len(data), len(data))
                    if start >= len(data):
                        server.requests.append((self.command, self.path, range_header, 0))
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                body = data[start:end]
                self.send_response(status)
                if server.honour_range:
                    self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if with_body and server.cuts > 0:
                    server.cuts -= 1
                    body = body[: server.cut_after]
                    self.close_connection = True
                sent = len(body) if with_body else 0
                server.requests.append((self.command, self.path, range_header, sent))
                if with_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def gets(self) -> list[tuple[str, str, str | None, int]]:
        return [r for r in self.requests if r[0] == "GET"]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
