"""Where the command's output goes: results on stdout (`out`, `print_json`), progress bars and errors on stderr."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

out = Console()
err = Console(stderr=True)  # main() points its file at the real stderr while third parties are silenced

ProgressCallback = Callable[[str, int, int], None]


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[ProgressCallback]:
    """A callback(what, done, total) drawing one rich progress bar per phase on stderr."""
    if not enabled or not err.is_terminal:
        yield lambda *_: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bars:
        tasks: dict[str, Any] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(what, total=total)
            bars.update(tasks[what], completed=done, total=total)
        yield update


def print_json(obj: Any) -> None:
    """A result as indented JSON on stdout (values JSON does not know, such as paths, as strings)."""
    click.echo(json.dumps(obj, indent=2, default=str))


def print_error(message: str, stream: TextIO) -> None:
    """One `edgekit: ...` line on `stream` (the real stderr: see main.quiet_third_parties)."""
    click.echo(f"edgekit: {message}", file=stream)


def write_atomically(files: dict[Path, Callable[[Path], Any]]) -> None:
    """Write every file (callable(path) writing it) to a temporary sibling, then rename all into place."""
    staged = []
    try:
        for dst, write in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
            os.close(fd)
            staged.append((Path(tmp), dst))
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the user's umask decides, as for any file
            write(Path(tmp))
        for tmp, dst in staged:
            os.replace(tmp, dst)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; set it straight back
    os.umask(mask)
    return mask
