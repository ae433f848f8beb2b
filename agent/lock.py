"""The pass lock: at most one pass (daemon or cron `sync`) at a time, per state dir."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.errors import LockHeld, StateError

LOCK_NAME = "sync.lock"


@contextmanager
def pass_lock(state_dir: Path) -> Iterator[None]:
    """Hold `<state_dir>/sync.lock` exclusively, or raise LockHeld at once.

    flock is released by the kernel when the process dies, so a crash never
    leaves a stale lock behind.
    """
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another pass holds {path}; not starting a second one") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
