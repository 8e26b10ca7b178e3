"""`edgekit optimize MODEL -t TARGET --max-latency 50ms --max-drop 1.0 ... -o DIR`: search recipes measured on the
target, write the best artifact and the report, say why the others lost; exit 4 when nothing meets the budgets.

--workers N runs N processes against one study storage (each its share of the trials); a search spread over
machines gives each the same --storage URL and --study-name.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from typing import Any

import click
from rich.table import Table

from ..units import format_bytes, format_ms
from .output import out, print_json, progress_bars


@click.command("optimize")
@click.argument("model")
@click.option("--target", "-t", required=True, help="device profile name")
@click.option("--max-latency", help="e.g. 50ms: the device estimate on emulated targets that have one, else measured")
@click.option("--max-drop", type=float, help="accuracy points the device may lose against the uncompressed model")
@click.option("--min-accuracy", type=float, help="top-1 (%%) on the device")
@click.option("--max-ram", help="e.g. 256KB (default: the profile's RAM)")
@click.option("--max-flash", help="e.g. 512KB: firmware image or model file (default: the profile's flash/storage)")
@click.option("--max-energy", help="e.g. 0.5mJ per inference (estimated from the profile's power model)")
@click.option("--min-cosine", type=float, help="device outputs against the uncompressed model's")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help=".npz with 'x' and 'y': INT8 calibration and fine-tuning after pruning")
@click.option("--eval", "eval_path", required=True, type=click.Path(dir_okay=False),
              help=".npz with 'x' and 'y': accuracy measured on the device")
@click.option("--trials", default=12, show_default=True, type=click.IntRange(0),
              help="trials in all, over workers; 0 judges the stored trials by the given budgets and reports")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="processes on this machine")
@click.option("--storage", help="Optuna storage URL (default: sqlite in the output folder); resumes a search")
@click.option("--study-name", default="edgekit-optimize", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--runs", default=20, show_default=True, type=click.IntRange(1), help="timed runs per candidate")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="folder for the report")
@click.option("--force", is_flag=True, help="use -o even if it holds files that are not an earlier search's "
              "(its report.json, report.html, best/, candidates/ and study.db are overwritten)")
@click.option("--worker", type=int, default=0, hidden=True,
              help="run trials only, as worker N (a process started by --workers; its sampler seed is seed + N)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def optimize_cmd(model: str, target: str, max_latency: str | None, max_drop: float | None,
                 min_accuracy: float | None, max_ram: str | None, max_flash: str | None, max_energy: str | None,
                 min_cosine: float | None, calibration: str | None, eval_path: str, trials: int, workers: int,
                 storage: str | None, study_name: str, seed: int, runs: int, output: str, force: bool, worker: int,
                 as_json: bool) -> None:
    """Search compression recipes for MODEL on a target; every candidate is measured on the device."""
    from ..errors import CheckFailed
    from ..optimize import check_outdir, check_storage, claim_outdir
    from ..optimize.budgets import Budgets, limits_from_options
    from ..profiles import load_profile
    # Every check that needs no model comes first, before torch is even imported: a refused -o, budget or storage
    # costs a second, not a model load and a baseline.
    profile = load_profile(target)
    budgets = Budgets.for_profile(profile, **limits_from_options({
        "max_latency_ms": max_latency, "max_ram_bytes": max_ram, "max_flash_bytes": max_flash,
        "max_energy_mj": max_energy, "max_drop": max_drop, "min_accuracy": min_accuracy, "min_cosine": min_cosine}))
    outdir = check_outdir(output, force or bool(worker))
    storage = check_storage(storage, outdir, study_name, must_exist=trials == 0)

    from ..modelio import load_data, load_model
    from ..optimize import make_problem, write_report
    from ..optimize.search import open_study, run_trials, unmeasured
    eval_data = load_data(eval_path)
    data = load_data(calibration) if calibration else None
    loaded = load_model(model)
    problem = make_problem(loaded.module, loaded.example_inputs, profile, outdir, budgets, data, eval_data, runs,
                           loaded.input_names)
    claim_outdir(outdir)
    shares = [trials // workers + (i < trials % workers) for i in range(workers)]
    if worker:
        run_trials(problem, storage, study_name, trials, seed + worker)
        return
    if trials:
        open_study(storage, study_name, seed).enqueue_trial(problem.space.baseline(), skip_if_exists=True)
    helpers = [_start_worker(share, storage, i) for i, share in enumerate(shares[1:], 1) if share]
    try:
        with progress_bars() as progress:
            if shares[0]:
                run_trials(problem, storage, study_name, shares[0], seed, progress)
        for proc in helpers:
            if proc.wait() != 0:
                proc.stderr.seek(0)
                raise CheckFailed(f"an optimize worker exited with {proc.returncode}: "
                                  f"{proc.stderr.read().decode(errors='replace').strip()[-300:]}")
    finally:
        for proc in helpers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    summary = write_report(problem, storage, study_name, outdir, seed)
    if as_json:
        print_json(summary)
    else:
        out.print(_table(summary))
        if (summary["search_space"] or {}).get("left_out"):
            out.print(f"not searched: {summary['search_space']['left_out']}")
        out.print(f"report: {outdir / 'report.html'} (and report.json)"
                  + (f"; chosen artifact: {outdir / 'best'}" if summary["chosen"] else ""))
    if summary["chosen"] is None:
        near = summary["closest"]
        raise CheckFailed("no candidate meets the budgets" + (
            f"; closest: trial {near['number']} ({near['recipe']}), which breaks {'; '.join(near['violations'])}"
            if near else f"; none could be measured: {unmeasured(summary['candidates'])}"))


def _start_worker(share: int, storage: str, index: int) -> subprocess.Popen:
    """This command again, with --worker, --trials SHARE and the shared storage (other flags unchanged)."""
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if arg in ("--trials", "--workers", "--storage", "--json"):
            skip = arg != "--json"
            continue
        if arg.startswith(("--trials=", "--workers=", "--storage=")):
            continue
        argv.append(arg)
    cmd = [sys.executable, "-m", "edgekit", *argv, "--worker", str(index), "--trials", str(share), "--storage", storage]
    # A file, not a pipe: a worker that writes much to stderr must never block on a full pipe.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=(log := tempfile.TemporaryFile()))
    proc.stderr = log
    return proc


def _table(summary: dict[str, Any]) -> Table:
    chosen = summary["chosen"]
    title = (f"edgekit optimize: chose trial {chosen['number']} ({chosen['recipe']})" if chosen else
             "edgekit optimize: nothing met the budgets")
    table = Table(title=title)
    for col in ("trial", "recipe", "latency", "accuracy %", "flash", "front", "why not chosen"):
        table.add_column(col, overflow="fold")
    for c in summary["candidates"]:
        f = c.get("figures") or {}
        table.add_row(str(c["number"]), c["recipe"] or "-",
                      "-" if f.get("latency_ms") is None else format_ms(f["latency_ms"]),
                      "-" if f.get("accuracy") is None else f"{f['accuracy']:.2f}",
                      "-" if f.get("flash_bytes") is None else format_bytes(f["flash_bytes"]),
                      "*" if c.get("on_front") else "", c.get("why_not_chosen") or "chosen")
    return table
