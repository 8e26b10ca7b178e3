"""One step of an image build: a command with a timeout whose failure is a one-line DeviceError (the tail of what
it printed), shared by the image builder and the runner's cross-build."""
from __future__ import annotations

import subprocess

from .. import interrupts
from ..errors import DeviceError


def run_step(args: list[str], what: str, timeout: float) -> str:
    """Run `args`; its stdout, or DeviceError naming `what` and the command's last lines."""
    try:
        proc = interrupts.run(args, timeout, text=True)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"image build: {what} took longer than {timeout:g} s") from None
    except OSError as exc:
        raise DeviceError(f"image build: {what} failed: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise DeviceError(f"image build: {what} failed: {' | '.join(tail) or proc.returncode}")
    return proc.stdout
