"""Graceful stops: the first SIGINT/SIGTERM asks the app to finish and finalize its outputs.

Kept free of heavy imports so that ``coach.cli`` installs the handlers before it loads OpenCV,
torch or mediapipe: Ctrl-C during start-up then ends the app cleanly instead of in a traceback.
"""

from __future__ import annotations

import contextlib
import signal
import threading


class StopFlag:
    """Why and whether the session should stop; set from signal handlers or key presses."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        """Asks the session to stop; the first reason wins."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for a stop; returns whether one was asked for."""
        return self._event.wait(timeout)


@contextlib.contextmanager
def stop_on_signals(stop: StopFlag):
    """Turns the first SIGINT/SIGTERM into a graceful stop; a second one aborts at once.

    Only signals count: a stop already asked for otherwise (end of the stream, the q key) does
    not turn the first signal into an abort, so a signal that arrives while the outputs are
    being finalized lets the finalization finish.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {}
    received: list[int] = []

    def handler(signum, _frame):
        received.append(signum)
        if len(received) > 1:
            for number, old in previous.items():
                signal.signal(number, old)
            raise KeyboardInterrupt
        stop.set("interrupted" if signum == signal.SIGINT else "terminated")

    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, handler)
    try:
        yield stop
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
