"""Ctrl-C and SIGTERM for a command: the first signal raises in the main thread, so every `with` and `finally` on
the way out runs (emulators stop, namespaces and temporary folders go); later ones are only counted, so that
clean-up is not itself cut short.

A signal can land where Python discards the exception it raises (a destructor, a weakref or GC callback, a
library's broad `except`), and the work then goes on. So the signal is also remembered: `check()` raises it again
at the points where finishing would be wrong (before an artifact is renamed into place), and the command's exit
code says it was interrupted whatever happened in between.

Starting a child is the one place the exception must wait: raised inside `subprocess.Popen` after the fork, it leaves
a running child that no one holds (a `mkdir` that recreates a folder the clean-up just removed, an agent that no
one stops). `deferred()` holds it until the child is in hand; `run()` is `subprocess.run` built on it.
"""
from __future__ import annotations

import contextlib
import signal
import subprocess
from typing import Any, Iterator


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt (a BaseException, so `except Exception` does not swallow it)."""


_received: list[int] = []
_deferring = 0  # depth of deferred() blocks
_active = 0  # depth of handled() blocks


def _raise_for(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def _handler(signum: int, frame: object) -> None:
    _received.append(signum)
    if len(_received) == 1 and not _deferring:
        raise _raise_for(signum)


def received() -> int | None:
    """The first signal received while `handled()` was active, or None."""
    return _received[0] if _received else None


def check() -> None:
    """Raise the received signal again (call before a step that must not happen after an interrupt). Outside a
    command (`handled()`) it does nothing: a signal an earlier command received is not this caller's."""
    if _active and _received:
        raise _raise_for(_received[0])


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal's exception until the block ends, then raise it: wrap starting a child and storing it where the
    clean-up will find it."""
    global _deferring
    before = len(_received)
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and before == 0 and _received:
        raise _raise_for(_received[0])


def run(argv: list[str], timeout: float, check: bool = False, **popen: Any) -> subprocess.CompletedProcess:
    """`subprocess.run(argv, capture_output=True, timeout=timeout, check=check, **popen)` whose child never outlives
    the call: on a timeout (TimeoutExpired, as subprocess.run raises it) or an interrupt it is killed and reaped
    first."""
    proc = None
    try:
        with deferred():
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        if proc is not None:
            with proc:  # closes its pipes and reaps it
                proc.kill()
        raise
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, argv, out, err)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for SIGINT and SIGTERM (main thread only) for the duration of a command."""
    global _active
    _received.clear()
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        for s, h in previous.items():
            signal.signal(s, h)
