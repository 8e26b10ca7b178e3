"""`optimize` on the digits CNN for a microcontroller, the phone and the Pi, each candidate measured on the emulated
device: what it chose against budgets the plain INT8 (or FP32) model misses. Writes bench/results/optimize.json.

    .venv/bin/python bench/bench_optimize.py [--trials 6] [--targets emu-cortex-m7 emu-phone-arm emu-rpi4]

Budgets per target are set from the baseline the search measures first (trial 0): a latency 25% under it and an
accuracy drop of at most 2 points, so that the baseline alone breaks the latency budget by construction.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

from edgekit.modelio import Dataset  # noqa: E402
from edgekit.models.digits import trained_digits_cnn  # noqa: E402
from edgekit.optimize import Budgets, optimize  # noqa: E402
from edgekit.optimize.budgets import figures  # noqa: E402
from edgekit.optimize.space import SearchSpace  # noqa: E402
from edgekit.profiles import load_profile  # noqa: E402
from edgekit.compiler import compile_model  # noqa: E402
from edgekit.measure.runner import benchmark  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--targets", nargs="+", default=["emu-cortex-m7", "emu-phone-arm", "emu-rpi4"])
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--latency-cut", type=float, default=0.25, help="latency budget = baseline x (1 - this)")
    args = p.parse_args()
    model, split = trained_digits_cnn()
    example = (torch.from_numpy(split.x_test[:1]),)
    cal, test = Dataset(split.x_train, split.y_train), Dataset(split.x_test, split.y_test)
    out = {"model": "DigitsCNN (edgekit/models/digits.py), 30 epochs", "trials": args.trials, "targets": {}}
    with tempfile.TemporaryDirectory(prefix="edgekit-opt-") as tmp:
        for target in args.targets:
            profile = load_profile(target)
            space = SearchSpace.for_profile(profile, labelled=True)
            recipe = space.recipe_for(space.baseline())
            t0 = time.time()
            base_art = compile_model(model, example, profile, Path(tmp) / f"{target}-baseline", recipe=recipe,
                                     calibration=cal)
            base = figures(benchmark(base_art, profile, runs=10, eval_data=test), None)
            budgets = Budgets.for_profile(profile, max_latency_ms=base["latency_ms"] * (1 - args.latency_cut),
                                          max_drop=2.0)
            summary = optimize(model, example, profile, Path(tmp) / target, budgets, calibration=cal,
                               eval_data=test, trials=args.trials, runs=10)
            chosen = summary["chosen"]
            out["targets"][target] = {
                "stands_for": profile.stands_for, "budgets": budgets.describe(),
                "baseline": {"recipe": summary["candidates"][0]["recipe"], "latency_ms": base["latency_ms"],
                             "latency_basis": base["latency_basis"], "accuracy": base["accuracy"]},
                "chosen": None if chosen is None else {k: chosen[k] for k in ("number", "recipe", "figures")},
                "closest": None if summary["closest"] is None else
                {k: summary["closest"][k] for k in ("number", "recipe", "violations")},
                "pareto_front": summary["pareto_front"],
                "candidates": [{k: c.get(k) for k in ("number", "recipe", "status", "reason", "violations",
                                                      "why_not_chosen")} |
                               {"latency_ms": (c.get("figures") or {}).get("latency_ms"),
                                "accuracy": (c.get("figures") or {}).get("accuracy")}
                               for c in summary["candidates"]],
                "baseline_accuracy_host": summary["baseline_accuracy"], "seconds": round(time.time() - t0, 1)}
            print(target, "chose", chosen and chosen["recipe"], file=sys.stderr, flush=True)
    write_result("optimize", out)


if __name__ == "__main__":
    main()
