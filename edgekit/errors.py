"""Errors that reach the user as one line and a distinct exit code."""
from __future__ import annotations


class EdgekitError(Exception):
    """Base class: a message naming the problem and a hint saying what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(EdgekitError):
    """Bad user input: a missing or corrupt file, a wrong shape, an unknown target."""

    exit_code = 1


class ProfileError(InputError):
    """A device profile file that does not validate."""


class UnsupportedError(InputError):
    """The model or artifact cannot be handled for this target (unsupported op, format, dtype)."""


class DeviceError(EdgekitError):
    """The device or the link to it failed: unreachable, timed out, agent crashed."""

    exit_code = 3


class CheckFailed(EdgekitError):
    """A budget or accuracy check the user asked for did not pass."""

    exit_code = 4
