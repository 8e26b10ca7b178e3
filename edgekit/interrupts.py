"""Ctrl-C and SIGTERM for a command: the first signal raises in the main thread, so every `with` and `finally` on
the way out runs (emulators stop, namespaces and temporary folders go); later ones are only counted, so that
clean-up is not itself cut short.

A signal can land where Python discards the exception it raises (a destructor, a weakref or GC callback, a
library's broad `except`), and the work then goes on. So the signal is also remembered: `check()` raises it again
at the points where finishing would be wrong (before an artifact is renamed into place), and the command's exit
code says it was interrupted whatever happened in between.
"""
from __future__ import annotations

import contextlib
import signal
from typing import Iterator


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt (a BaseException, so `except Exception` does not swallow it)."""


_received: list[int] = []


def _raise_for(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def _handler(signum: int, frame: object) -> None:
    _received.append(signum)
    if len(_received) == 1:
        raise _raise_for(signum)


def received() -> int | None:
    """The first signal received while `handled()` was active, or None."""
    return _received[0] if _received else None


def check() -> None:
    """Raise the received signal again (call before a step that must not happen after an interrupt)."""
    if _received:
        raise _raise_for(_received[0])


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for SIGINT and SIGTERM (main thread only) for the duration of a command."""
    _received.clear()
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
