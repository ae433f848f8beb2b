"""A raw TCP server on 127.0.0.1: full control over what goes on the wire.

For faults below HTTP: hangs, stalls, resets, dropped connections, huge answers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class RawServer:
    """Runs `serve(conn)` for each connection on 127.0.0.1; closes everything at the end."""

    def __init__(self, serve: Callable[[socket.socket], None]):
        self.serve = serve
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.connections: list[socket.socket] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.serve(conn)

    def close(self) -> None:
        self.stop.set()
        self.acceptor.join(timeout=2)
        self.listener.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in self.threads:
            thread.join(timeout=2)

    def url_for(self, path: str) -> str:
        return self.url + path.lstrip("/")


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
