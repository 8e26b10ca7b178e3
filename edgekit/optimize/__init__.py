"""`optimize`: search compression recipes for a target, each candidate compiled and measured on the device, and
choose the one that meets the budgets (budgets.py: what is judged; space.py: what is tried; search.py: the Optuna
study; report.py: JSON and HTML).

    summary = edgekit.optimize(model, (example,), "emu-cortex-m7", "out/opt",
                               Budgets.for_profile(load_profile("emu-cortex-m7"), max_latency_ms=8, max_drop=2),
                               calibration=cal, eval_data=test, trials=8)
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import InputError
from ..modelio import Dataset
from ..profiles import Profile, load_profile
from .budgets import Budgets
from .report import html_report, summarise
from .search import Problem, candidates, open_study, run_trials
from .space import SearchSpace

__all__ = ["Budgets", "optimize", "prepare_outdir", "default_storage", "write_report", "make_problem"]
REPORT_JSON, REPORT_HTML, BEST = "report.json", "report.html", "best"


def default_storage(outdir: Path) -> str:
    return f"sqlite:///{(outdir / 'study.db').resolve()}"


def prepare_outdir(outdir: str | Path, force: bool = False) -> Path:
    """A new or empty folder, or one an earlier search wrote (resumed); anything else is refused unless `force`."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"output {outdir} exists and is not a folder", "pass a folder path with -o")
    ours = {REPORT_JSON, REPORT_HTML, BEST, "candidates", "study.db"}
    if outdir.is_dir() and not force and any(p.name not in ours for p in outdir.iterdir()):
        raise InputError(f"output folder {outdir} holds files an optimize run did not write; refusing to use it",
                         "choose another folder, or pass --force")
    outdir.mkdir(parents=True, exist_ok=True)
    return outdir


def make_problem(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], profile: Profile,
                 outdir: Path, budgets: Budgets, calibration: Dataset | None, eval_data: Dataset, runs: int,
                 input_names: Sequence[str] | None) -> Problem:
    labelled = calibration is not None and calibration.y is not None
    return Problem(model, example_inputs, profile, budgets, SearchSpace.for_profile(profile, labelled), calibration,
                   eval_data, outdir, runs, input_names)


def write_report(problem: Problem, storage: str, study_name: str, outdir: Path, seed: int) -> dict[str, Any]:
    """Summarise the study (every worker's trials), write report.json and report.html, copy the chosen artifact
    to `outdir/best`."""
    study = open_study(storage, study_name, seed, load_only=True)
    cands = candidates(study)
    summary = summarise(cands, problem.budgets, problem.profile.name, problem.baseline_accuracy,
                        {"storage": storage if storage.startswith("sqlite") else storage.split("@")[-1],
                         "name": study_name, "seed": seed, "trials": len(cands), "engine": "optuna (TPE)"})
    best = outdir / BEST
    shutil.rmtree(best, ignore_errors=True)
    if summary["chosen"] and summary["chosen"].get("artifact"):
        shutil.copytree(summary["chosen"]["artifact"], best)
    for name, text in ((REPORT_JSON, json.dumps(summary, indent=2) + "\n"),
                       (REPORT_HTML, html_report(summary, f"edgekit optimize: {problem.profile.name}"))):
        tmp = outdir / f".{name}.partial"
        tmp.write_text(text)
        os.replace(tmp, outdir / name)
    return summary


def optimize(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], target: Profile | str,
             outdir: str | Path, budgets: Budgets, *, calibration: Dataset | None, eval_data: Dataset,
             trials: int = 12, storage: str | None = None, study_name: str = "edgekit-optimize", seed: int = 0,
             runs: int = 20, input_names: Sequence[str] | None = None,
             progress: Callable[[str, int, int], None] | None = None, force: bool = False) -> dict[str, Any]:
    """Search recipes for `target` in this process; the summary written to outdir/report.json. Other processes
    may add trials to the same `storage` (default outdir/study.db) at the same time."""
    profile = load_profile(target) if isinstance(target, str) else target
    outdir = prepare_outdir(outdir, force)
    storage = storage or default_storage(outdir)
    problem = make_problem(model, example_inputs, profile, outdir, budgets, calibration, eval_data, runs, input_names)
    open_study(storage, study_name, seed).enqueue_trial(problem.space.baseline(), skip_if_exists=True)
    run_trials(problem, storage, study_name, trials, seed, progress)
    return write_report(problem, storage, study_name, outdir, seed)
