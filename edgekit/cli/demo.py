"""`edgekit demo`: the whole flow on the emulated devices, end to end."""
from __future__ import annotations

from pathlib import Path

import click

from .output import out, progress_bars


@click.command("demo")
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--runs", default=200, show_default=True, type=click.IntRange(1))
@click.option("--force", is_flag=True, help="use --reports even if it holds files an earlier demo did not write "
              "(digits_test.npz, demo.json, demo.html, artifacts/ and optimize/ are replaced)")
def demo_cmd(reports: str, runs: int, force: bool) -> None:
    """Train a digits CNN, compile FP32 and INT8, benchmark both on the emulated devices, write a report."""
    from ..demo import run_demo
    run_demo(Path(reports), runs=runs, console=out, progress_factory=progress_bars, force=force)
