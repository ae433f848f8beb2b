"""The processes a process started, from /proc (Linux): for the tests and benchmarks
that watch the agent's worker processes."""

from __future__ import annotations

from pathlib import Path


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (none once it is gone)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(n) for n in (task / "children").read_text().split()]
        except OSError:
            continue
    return found
