"""systemd's notify protocol: one datagram to $NOTIFY_SOCKET. Outside systemd, nothing."""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 1.0


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: its real name starts with a NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_seconds = _watchdog_interval(env)

    def send(self, *assignments: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # A reader that stopped reading (its queue holds a few datagrams) would
                # otherwise block the daemon here for ever.
                sock.settimeout(SEND_TIMEOUT_SECONDS)
                sock.sendto("\n".join(assignments).encode(), self.address)
        except OSError as exc:
            log.debug("could not notify systemd: %s", exc)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")


def _watchdog_interval(env: dict[str, str] | os._Environ[str]) -> float | None:
    """Half of WATCHDOG_USEC, in seconds, when the watchdog is meant for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not (usec.isascii() and usec.isdigit()) or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000
