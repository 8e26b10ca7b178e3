"""Running the real `edgekit` command in a subprocess, as a user would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def start_cli(*args: str) -> subprocess.Popen:
    """An `edgekit` command started in the background (finish it with `finish_cli`)."""
    return subprocess.Popen([sys.executable, "-m", "edgekit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish_cli(proc: subprocess.Popen, timeout: float = 600) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli_together(*commands: list, timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Several `edgekit` commands at once (independent compiles: most of each is single-threaded start-up)."""
    procs = [start_cli(*args) for args in commands]
    return [finish_cli(proc, timeout) for proc in procs]
