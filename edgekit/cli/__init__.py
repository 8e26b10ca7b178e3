"""The `edgekit` command: results on stdout, progress and errors on stderr, one line per error.

Exit codes: 0 ok, 1 bad input, 2 usage, 3 device or transport failure, 4 a budget or accuracy check failed.
Set EDGEKIT_DEBUG=1 for tracebacks. One module per command group; output.py holds the consoles they print to.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from typing import Iterator, TextIO

import click

from .. import interrupts
from ..errors import EdgekitError
from . import output
from .bench import bench_cmd
from .compile import compile_cmd
from .compress import compress_cmd
from .demo import demo_cmd
from .farm import farm
from .optimize import optimize_cmd
from .targets import targets

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
def cli() -> None:
    """Compress a PyTorch model for a device, export it, deploy it and measure it."""


for _command in (targets, compile_cmd, bench_cmd, demo_cmd, compress_cmd, optimize_cmd, farm):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Run `edgekit` with `argv` (default sys.argv[1:]) and exit with its code."""
    with interrupts.handled(), quiet_third_parties() as stderr:
        code = _run(argv, stderr)
    if interrupts.received() is not None:
        _exit_interrupted(code)
    sys.exit(code)


def _exit_interrupted(code: int) -> None:
    """Exit with `code` after an interrupt, atexit work done. Why not sys.exit: once a KeyboardInterrupt has passed
    through code run by PyRun_String (pybind11 modules run such code at import), CPython re-raises SIGINT on
    itself at exit even though edgekit caught the interrupt, and the exit status becomes 'killed by SIGINT'."""
    import atexit
    atexit._run_exitfuncs()  # what a normal exit runs: temporary folders' finalizers, libraries' clean-up
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def quiet_third_parties() -> Iterator[TextIO]:
    """Yield the stream edgekit's own messages go to, while everything else written to stderr (TensorFlow/absl and
    XNNPACK lines from C++, torch and torchao logs, Python warnings) goes to a scratch file, so a command's error is
    the one line the user reads. EDGEKIT_DEBUG=1 leaves stderr alone."""
    if os.environ.get("EDGEKIT_DEBUG"):
        yield sys.stderr
        return
    import tempfile
    import warnings
    sys.stderr.flush()
    saved = os.dup(2)
    # Unbuffered underneath: click writes to the binary layer of the stream it is given.
    real = io.TextIOWrapper(os.fdopen(saved, "wb", buffering=0), write_through=True, line_buffering=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryFile() as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(scratch.fileno(), 2)
        output.err.file = real  # progress bars stay visible
        try:
            yield real
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            output.err.file = sys.stderr
            real.flush()


def _run(argv: list[str] | None, stderr: TextIO) -> int:
    """Run the command; returns the exit code (errors printed as one line on `stderr`)."""
    try:
        cli.main(args=argv, prog_name="edgekit", standalone_mode=False)
        interrupts.check()  # a signal some library swallowed on the way: still an interrupted command
        return 0
    except click.exceptions.Abort:  # click's form of a KeyboardInterrupt inside a command
        output.print_error("interrupted", stderr)
        return 130
    except click.ClickException as exc:  # usage errors: exit 2
        exc.show(file=stderr)
        return exc.exit_code
    except EdgekitError as exc:
        if os.environ.get("EDGEKIT_DEBUG"):
            traceback.print_exc()
        output.print_error(f"error: {exc.one_line()}", stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        output.print_error("interrupted", stderr)
        return 130
    except interrupts.Terminated:
        output.print_error("terminated", stderr)
        return 143
    except Exception as exc:  # a bug: still one line unless debugging
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        output.print_error(f"internal error: {type(exc).__name__}: {exc} (set EDGEKIT_DEBUG=1 for a traceback)",
                           stderr)
        return 70
