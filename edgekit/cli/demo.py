"""`edgekit demo`: the whole flow on the emulated devices, end to end."""
from __future__ import annotations

from pathlib import Path

import click

from .output import out, progress_bars


@click.command("demo")
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--runs", default=200, show_default=True, type=click.IntRange(1))
def demo_cmd(reports: str, runs: int) -> None:
    """Train a digits CNN, compile FP32 and INT8, benchmark both on the emulated devices, write a report."""
    from ..demo import run_demo
    run_demo(Path(reports), runs=runs, console=out, progress_factory=progress_bars)
