"""`optimize`: search compression recipes for a target, each candidate compiled and measured on the device, and
choose the one that meets the budgets (budgets.py: what is judged; space.py: what is tried; search.py: the Optuna
study; report.py: JSON and HTML; storage.py: the output folder and the study storage).

    summary = edgekit.optimize(model, (example,), "emu-cortex-m7", "out/opt",
                               Budgets.for_profile(load_profile("emu-cortex-m7"), max_latency_ms=8, max_drop=2),
                               calibration=cal, eval_data=test, trials=8)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..artifact import replace_folder
from ..profiles import Profile, load_profile
from .budgets import Budgets
from .storage import check_outdir, check_storage, claim_outdir, default_storage, prepare_outdir

if TYPE_CHECKING:
    import torch

    from ..modelio import Dataset
    from .search import Problem

# The modules that import torch (search, report, space) are imported where used: the command checks its options,
# its output folder and its storage through this package before paying for torch.
__all__ = ["Budgets", "optimize", "check_outdir", "claim_outdir", "prepare_outdir", "check_storage",
           "default_storage", "write_report", "make_problem"]
REPORT_JSON, REPORT_HTML, BEST = "report.json", "report.html", "best"


def make_problem(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], profile: Profile,
                 outdir: Path, budgets: Budgets, calibration: Dataset | None, eval_data: Dataset, runs: int,
                 input_names: Sequence[str] | None) -> Problem:
    from .search import Problem
    from .space import SearchSpace
    labelled = calibration is not None and calibration.y is not None
    return Problem(model, example_inputs, profile, budgets, SearchSpace.for_profile(profile, labelled, model, budgets.min_cosine),
                   calibration, eval_data, outdir, runs, input_names)


def write_report(problem: Problem, storage: str, study_name: str, outdir: Path, seed: int) -> dict[str, Any]:
    """Summarise the study (every worker's trials), write report.json and report.html, copy the chosen artifact
    to `outdir/best`."""
    from .report import html_report, summarise
    from .search import candidates, open_study
    study = open_study(storage, study_name, seed, load_only=True)
    cands = candidates(study)
    summary = summarise(cands, problem.budgets, problem.profile.name, problem.baseline_accuracy,
                        {"storage": storage if storage.startswith("sqlite") else storage.split("@")[-1],
                         "name": study_name, "seed": seed, "trials": len(cands), "engine": "optuna (TPE)"},
                        problem.space.describe())
    _place_best(summary["chosen"] and summary["chosen"].get("artifact"), outdir / BEST)
    for name, text in ((REPORT_JSON, json.dumps(summary, indent=2) + "\n"),
                       (REPORT_HTML, html_report(summary, f"edgekit optimize: {problem.profile.name}"))):
        tmp = outdir / f".{name}.partial"
        tmp.write_text(text)
        os.replace(tmp, outdir / name)
    return summary


def _place_best(artifact: str | None, best: Path) -> None:
    """`best` becomes a copy of the chosen artifact, or goes when nothing was chosen (the folder is a search's own,
    check_outdir saw to that); the copy is renamed into place, so `best` is never half-written."""
    if not artifact:
        shutil.rmtree(best, ignore_errors=True)
        return
    staging = Path(tempfile.mkdtemp(prefix=f".{best.name}.", dir=best.parent))
    try:
        shutil.copytree(artifact, staging, dirs_exist_ok=True)
        replace_folder(staging, best)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def optimize(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], target: Profile | str,
             outdir: str | Path, budgets: Budgets, *, calibration: Dataset | None, eval_data: Dataset,
             trials: int = 12, storage: str | None = None, study_name: str = "edgekit-optimize", seed: int = 0,
             runs: int = 20, input_names: Sequence[str] | None = None,
             progress: Callable[[str, int, int], None] | None = None, force: bool = False) -> dict[str, Any]:
    """Search recipes for `target` in this process; the summary written to outdir/report.json. Other processes
    may add trials to the same `storage` (default outdir/study.db) at the same time."""
    from .search import open_study, run_trials
    profile = load_profile(target) if isinstance(target, str) else target
    outdir = check_outdir(outdir, force)
    storage = check_storage(storage, outdir, study_name, must_exist=False)
    problem = make_problem(model, example_inputs, profile, outdir, budgets, calibration, eval_data, runs, input_names)
    claim_outdir(outdir)
    open_study(storage, study_name, seed).enqueue_trial(problem.space.baseline(), skip_if_exists=True)
    run_trials(problem, storage, study_name, trials, seed, progress)
    return write_report(problem, storage, study_name, outdir, seed)
