"""The signals that steer the daemon: SIGTERM and SIGINT stop it, SIGHUP reloads.

Its own module, without the daemon's imports, so that the command line can block
them the moment it knows it is starting the daemon (`agent.cli`): one sent while
the config loads then waits for the daemon's loop instead of killing the process.
"""

from __future__ import annotations

import signal


class DaemonSignals:
    """The signals that steer the daemon, taken by the main loop itself (`sigwait`).

    They are blocked in every thread, so none interrupts code half-way: a handler
    that set an Event there could wait for ever on the lock the interrupted code
    held, and a handler's note through a pipe can be dropped when the pipe is full.
    A blocked signal stays pending in the kernel until the loop takes it.
    """

    STOP = frozenset({signal.SIGTERM, signal.SIGINT})
    RELOAD = signal.SIGHUP

    def install(self) -> None:
        """Block them; before any thread starts, as threads inherit what is blocked."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {*self.STOP, self.RELOAD})

    def wait(self) -> set[int]:
        """The next signal, and any others already pending."""
        wanted = {*self.STOP, self.RELOAD}
        received = {signal.sigwait(wanted)}
        while (more := signal.sigtimedwait(wanted, 0)) is not None:
            received.add(more.si_signo)
        return received
