"""The search: an Optuna study whose trials compile a candidate recipe, discard what cannot fit before any device
time, measure the rest on the target, and record every figure; then the Pareto front and the chosen recipe.

The study lives in an Optuna storage (SQLite by default, any database URL), which is how a search resumes and how
several workers, processes or machines, share it: each runs `run_trials` against the same storage and study name.
Trials that fail to compile are recorded with the reason (state PRUNED, `status` "failed"), not fatal; a trial cut
short by Ctrl-C or SIGTERM records that it was interrupted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..compiler import compile_model, run_batched
from .. import interrupts
from ..compress.finetune import eval_mode
from ..errors import EdgekitError, InputError
from ..measure.runner import benchmark, check_labels
from ..modelio import Dataset
from ..profiles import Profile
from .budgets import Budgets, figures, violations
from .space import SearchSpace, describe

Progress = Callable[[str, int, int], None]
OBJECTIVES = ("accuracy_drop", "latency_ms", "size_bytes")  # all minimised


@dataclass
class Problem:
    """Everything a trial needs; built once per worker process."""

    model: torch.nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    profile: Profile
    budgets: Budgets
    space: SearchSpace
    calibration: Dataset | None
    eval_data: Dataset
    workdir: Path
    runs: int = 20
    input_names: Sequence[str] | None = None
    baseline_accuracy: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.eval_data.y is None:
            raise InputError("optimize needs labelled eval data ('x' and 'y') to measure accuracy on the device")
        if self.baseline_accuracy is None:
            x = self.eval_data.for_inputs(list(self.input_names or ["x"]), [t.shape for t in self.example_inputs],
                                          "eval")
            n = len(x[0]) // self.example_inputs[0].shape[0] * self.example_inputs[0].shape[0]
            logits = run_batched(eval_mode(self.model), [torch.from_numpy(np.ascontiguousarray(a[:n])) for a in x],
                                 self.example_inputs[0].shape[0])[0]
            # Labels outside the model's classes would leave every trial unmeasurable after all its device time.
            for data in (self.eval_data, self.calibration):
                if data is not None:
                    check_labels(data, list(logits.shape))
            self.baseline_accuracy = float((logits.argmax(1) == np.asarray(self.eval_data.y[:n])).mean() * 100)


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the progress bar says the same in one line."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna").propagate = False


def open_study(storage: str, study_name: str, seed: int, load_only: bool = False) -> Any:
    import optuna
    quiet_optuna()
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)
    if load_only:
        return optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    return optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, load_if_exists=True,
                               directions=["minimize"] * len(OBJECTIVES))


def _same_params(study: Any, params: dict[str, Any], number: int) -> Any | None:
    import optuna
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.number != number and t.params == params:
            return t
    return None


def evaluate(trial: Any, problem: Problem) -> tuple[float, float, float]:
    """One trial (see _evaluate); one cut short by a signal says so in the report."""
    try:
        return _evaluate(trial, problem)
    except (KeyboardInterrupt, interrupts.Terminated) as exc:
        trial.set_user_attr("status", "interrupted")
        trial.set_user_attr("reason", "interrupted (Ctrl-C) before it finished" if isinstance(exc, KeyboardInterrupt)
                            else "terminated (SIGTERM) before it finished")
        raise


def _evaluate(trial: Any, problem: Problem) -> tuple[float, float, float]:
    """One trial: compile, check what is known without the device, measure, judge against the budgets."""
    import optuna
    params = problem.space.suggest(trial)
    trial.set_user_attr("recipe", describe(params))
    twin = _same_params(trial.study, params, trial.number)
    if twin is not None:  # the sampler proposed a recipe already measured: its figures stand, no device time spent
        for key, value in twin.user_attrs.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("duplicate_of", twin.number)
        return tuple(twin.values)
    out = problem.workdir / "candidates" / f"trial-{trial.number}"
    try:
        art = compile_model(problem.model, problem.example_inputs, problem.profile, out,
                            recipe=problem.space.recipe_for(params), calibration=problem.calibration,
                            input_names=problem.input_names, force=True)
    except EdgekitError as exc:
        trial.set_user_attr("status", "failed")
        trial.set_user_attr("reason", f"compile: {exc.message}")
        raise optuna.TrialPruned() from None
    trial.set_user_attr("artifact", str(art.path))
    firmware = art.manifest.get("export", {}).get("firmware") or {}
    known = {"flash_bytes": firmware.get("flash_bytes", art.size_bytes), "ram_bytes": firmware.get("ram_bytes")}
    early = [v for v in violations(problem.budgets, known) if v.value is not None]
    if early:
        trial.set_user_attr("status", "discarded")
        trial.set_user_attr("reason", "before device time: " + "; ".join(map(str, early)))
        trial.set_user_attr("figures", known)
        raise optuna.TrialPruned()
    try:
        report = benchmark(art, problem.profile, runs=problem.runs, warmup=min(5, problem.runs),
                           eval_data=problem.eval_data)
    except EdgekitError as exc:
        trial.set_user_attr("status", "failed")
        trial.set_user_attr("reason", f"device: {exc.message}")
        raise optuna.TrialPruned() from None
    figs = figures(report, problem.baseline_accuracy)
    trial.set_user_attr("status", "measured")
    trial.set_user_attr("figures", figs)
    trial.set_user_attr("latency_ms", {k: report["latency_ms"].get(k)
                                       for k in ("min", "p50", "p90", "p99", "max", "time_base", "time_base_label")})
    return (figs["accuracy_drop"], figs["latency_ms"], float(figs["size_bytes"]))


def run_trials(problem: Problem, storage: str, study_name: str, trials: int, seed: int,
               progress: Progress | None = None) -> None:
    """Run `trials` trials of the study in this process (other workers may run theirs at the same time)."""
    study = open_study(storage, study_name, seed)
    progress = progress or (lambda *_: None)
    done = [0]

    def after(study: Any, trial: Any) -> None:
        done[0] += 1
        progress(f"trials ({best_so_far(study, problem.budgets)})", done[0], trials)
    progress("trials", 0, trials)
    study.optimize(lambda t: evaluate(t, problem), n_trials=trials, callbacks=[after], catch=())


def best_so_far(study: Any, budgets: Budgets) -> str:
    chosen = choose(judge(candidates(study), budgets))
    return f"best: trial {chosen['number']}, {chosen['recipe']}" if chosen else "nothing within budget yet"


# --- results --------------------------------------------------------------------------------------------------

def candidates(study: Any) -> list[dict[str, Any]]:
    """Every finished trial as a plain dict: number, recipe, params, status, figures, violations, ..."""
    import optuna
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.WAITING:  # queued, never started
            continue
        attrs = dict(t.user_attrs)
        status, reason = attrs.get("status"), attrs.get("reason")
        if t.state == optuna.trial.TrialState.RUNNING and status != "interrupted":
            status, reason = "unfinished", ("not finished when this report was written: still running in another "
                                            "worker, or its process was stopped (killed, or the machine went down)")
        elif status is None:
            status, reason = "failed", "stopped with an error before recording why (EDGEKIT_DEBUG=1 shows it)"
        out.append({"number": t.number, "params": t.params, "recipe": attrs.get("recipe"), "status": status,
                    "reason": reason, "figures": attrs.get("figures"),
                    "latency_ms": attrs.get("latency_ms"), "artifact": attrs.get("artifact"),
                    "duplicate_of": attrs.get("duplicate_of")})
    return sorted(out, key=lambda c: c["number"])


def judge(cands: list[dict[str, Any]], budgets: Budgets) -> list[dict[str, Any]]:
    """Set each measured candidate's violations of `budgets` (the figures are stored, so a resumed search with
    other budgets judges every earlier trial by the new ones)."""
    for c in cands:
        broken = violations(budgets, c["figures"]) if c["status"] == "measured" else []
        c.update(violations=[str(v) for v in broken], excess=sum(v.excess for v in broken),
                 feasible=c["status"] == "measured" and not broken)
    return cands


def _objectives(c: dict[str, Any]) -> tuple[float, ...]:
    f = c["figures"]
    return tuple(float("inf") if f.get(k) is None else float(f[k]) for k in OBJECTIVES)


def pareto_front(cands: list[dict[str, Any]]) -> list[int]:
    """Numbers of the measured candidates no other measured candidate beats on every objective."""
    measured = [c for c in cands if c["status"] == "measured" and c["duplicate_of"] is None]

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))
    return [c["number"] for c in measured
            if not any(dominates(_objectives(o), _objectives(c)) for o in measured if o is not c)]


def choose(cands: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Within every budget, the fastest (then the smallest, then the most accurate); None if none fits."""
    feasible = [c for c in cands if c["feasible"] and c["duplicate_of"] is None]
    if not feasible:
        return None
    return min(feasible, key=_choice_key)


def _choice_key(c: dict[str, Any]) -> tuple[float, float, float]:
    """What choose() ranks the feasible by: latency, then size, then accuracy drop."""
    drop, latency, size = _objectives(c)
    return latency, size, drop


def closest(cands: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The measured candidate that misses its budgets by the least (summed relative excess)."""
    measured = [c for c in cands if c["status"] == "measured"]
    return min(measured, key=lambda c: c["excess"] or 0.0) if measured else None


def unmeasured(cands: list[dict[str, Any]]) -> str:
    """Why no candidate could be measured, in one line: each reason once, the most frequent first, with its
    trials."""
    by_reason: dict[str, list[int]] = {}
    for c in cands:
        if c["status"] != "measured":
            by_reason.setdefault(c["reason"] or c["status"], []).append(c["number"])
    if not by_reason:
        return "the study holds no trials"
    ranked = sorted(by_reason.items(), key=lambda kv: -len(kv[1]))
    shown = [f"{reason} (trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))})"
             for reason, numbers in ranked[:3]]
    more = f"; {len(ranked) - 3} more reasons in the report" if len(ranked) > 3 else ""
    return "; ".join(shown) + more


def _lost_on(c: dict[str, Any], chosen: dict[str, Any]) -> str:
    """The first of choose()'s keys a feasible candidate lost on; a tie on the keys before it is said as one."""
    (latency, size, drop), best, n = _choice_key(c), _choice_key(chosen), chosen["number"]
    if latency > best[0]:
        return f"slower than trial {n}"
    if size > best[1]:
        return f"as fast as trial {n} but larger"
    if drop > best[2]:
        return f"as fast and as small as trial {n} but less accurate"
    return f"ties trial {n} on latency, size and accuracy (the earlier trial is chosen)"


def why_not(c: dict[str, Any], chosen: dict[str, Any] | None, front: list[int]) -> str:
    """Why a candidate was not chosen, in one line."""
    if c["status"] != "measured":
        return c["reason"] or c["status"]
    if c["duplicate_of"] is not None:
        return f"same recipe as trial {c['duplicate_of']}"
    if c["violations"]:
        return "breaks " + "; ".join(c["violations"])
    if c["number"] not in front:
        return "dominated: another candidate is at least as good on accuracy, latency and size"
    return f"within budget and on the front; {_lost_on(c, chosen)}" if chosen else "within budget"
