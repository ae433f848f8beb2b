"""The installed daemon as a test process, and a stand-in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self) -> None:
        # Short path: unix socket names are limited to 107 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="ntf"))
        self.path = self.dir / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def collect(self, seconds: float) -> list[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.messages.append(self.sock.recv(4096).decode())
        return self.messages

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages if text in m]
            if found:
                return found[0]
            self.collect(0.2)
        raise AssertionError(f"no {text!r} in {self.messages}")

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Daemon:
    def __init__(self, agent: Any, env: dict[str, str]):
        self.log_path = agent.workdir / "daemon.log"
        # A file, not a pipe: a full pipe would block the daemon's logging.
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [agent.command, "--config", str(agent.config_path), "run"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, **env},
        )

    def stderr(self) -> str:
        return self.log_path.read_text()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()
