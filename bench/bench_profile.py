"""Per-operator profiles (`bench --profile`, issue 23) on one model per size and one target per family: do the rows
add up to the whole inference measured in the same run, does every row name a module of the model, and what does
profiling cost?

Models: the digits CNN (examples/digits_cnn.py, 5 epochs), the MLPerf Tiny KWS DS-CNN and MobileNetV2 1.0 at 224
(zoo), static INT8 (the phone and the Pi also FP32). Targets: emu-phone-arm (ExecuTorch's C++ runner on an
emulated Cortex-A76, ETDump), emu-rpi4 (LiteRT on an emulated Cortex-A72, LiteRT's profiler) and emu-cortex-m4
(edgekit's firmware under QEMU, per-kernel counted instructions). On the Arm VMs time is QEMU -icount virtual time
(1 ns per instruction); on the M4 the unit is instructions. A model a target cannot hold is recorded with the
compiler's refusal.

    .venv/bin/python bench/bench_profile.py                        # -> bench/results/profile.json
    .venv/bin/python bench/bench_profile.py --models digits --targets emu-cortex-m4 --out /tmp/p.json
    .venv/bin/python bench/bench_profile.py --targets emu-phone-arm --merge-from /tmp/pi.json  # keep its other cells
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.errors import EdgekitError  # noqa: E402
from edgekit.measure.op_profile import GLUE, ROOT  # noqa: E402

TARGETS = ("emu-phone-arm", "emu-rpi4", "emu-cortex-m4")
CALIBRATION = 32
LIMIT = 0.05  # issue 23: rows within 5% of the whole inference


def _digits() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], np.ndarray]:
    from edgekit.models.digits import trained_digits_cnn
    model, split = trained_digits_cnn(epochs=5)
    return model, (torch.from_numpy(split.x_test[:1]),), split.x_train[:CALIBRATION]


def _zoo(name: str) -> Callable[[], tuple[torch.nn.Module, tuple[torch.Tensor, ...], np.ndarray]]:
    def build() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], np.ndarray]:
        from edgekit.models.zoo import ZOO
        entry = ZOO[name]
        model, example = entry.factory()
        return model, example, next(iter(entry.calibration_data(CALIBRATION, 0).values()))
    return build


MODELS = {"digits": _digits, "kws_dscnn": _zoo("kws_dscnn"), "mobilenet_v2": _zoo("mobilenet_v2")}


def profile_cell(name: str, target: str, precision: str, workdir: Path) -> dict[str, Any]:
    model, example, calibration = MODELS[name]()
    recipe = [edgekit.Int8StaticConfig(calibration_samples=CALIBRATION)] if precision == "int8" else []
    try:
        art = edgekit.compile_model(model, example, target, workdir / f"{name}-{target}-{precision}", recipe=recipe,
                                    calibration=edgekit.Dataset(calibration))
    except EdgekitError as exc:
        return {"status": "refused at compile", "why": str(exc).splitlines()[0]}
    t0 = time.perf_counter()
    report = edgekit.benchmark(art, target, runs=3, warmup=1, profile_ops=True)
    ops = report["ops"]
    modules = set(art.manifest["model"]["modules"])
    unnamed = [r["op"] for r in ops["rows"] if r["module"] not in modules | {GLUE, ROOT}]
    return {
        "status": "ok", "bench_s": round(time.perf_counter() - t0, 1), "unit": ops["unit"], "basis": ops["basis"],
        "rows": len(ops["rows"]), "rows_sum": ops["rows_sum"], "whole": ops["whole"],
        "coverage": round(ops["coverage"], 4), "within_5_percent": abs(ops["coverage"] - 1) <= LIMIT,
        "overhead": round(ops["overhead"], 4) if ops["overhead"] is not None else None,
        "rows_naming_no_module": unnamed,
        "glue_share": round(sum(r["share"] for r in ops["rows"] if r["module"] == GLUE), 4),
        "top": [{k: r.get(k) for k in ("op", "kernel", "module", "module_type", "source", "share", "value", "macs",
                                        "per_mac")} for r in ops["rows"][:5]],
        "latency_p50_ms": report["latency_ms"]["p50"], "time_base": report["latency_ms"]["time_base"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--merge-from", type=Path, help="a results file whose cells for targets not run here are kept "
                                                         "(their own command is recorded with them)")
    args = parser.parse_args()
    cells = []
    with tempfile.TemporaryDirectory(prefix="edgekit-profile-") as tmp:
        for target in args.targets.split(","):
            for name in args.models.split(","):
                for precision in ("int8",) if target == "emu-cortex-m4" else ("fp32", "int8"):
                    t0 = time.perf_counter()
                    cell = {"model": name, "target": target, "precision": precision,
                            **profile_cell(name, target, precision, Path(tmp))}
                    cells.append(cell)
                    print(f"{name} {target} {precision}: {cell['status']} coverage {cell.get('coverage')} "
                          f"overhead {cell.get('overhead')} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.merge_from:
        kept = json.loads(args.merge_from.read_text())
        run_here = set(args.targets.split(","))
        cells += [{**c, "command": kept["command"], "machine": kept["machine"]} for c in kept["cells"]
                  if c["target"] not in run_here]
    ok = [c for c in cells if c["status"] == "ok"]
    path = write_result("profile", {
        "what": "bench --profile: per-operator rows against the whole inference measured without the profiler in "
                "the same run (coverage = rows_sum / whole), and the profiler's overhead (whole with it / without "
                "it - 1)",
        "target_coverage": f"within {LIMIT:.0%}",
        "summary": {"cells": len(cells), "profiled": len(ok), "within_5_percent": sum(c["within_5_percent"]
                                                                                      for c in ok),
                    "rows_naming_no_module": sum(len(c["rows_naming_no_module"]) for c in ok)},
        "cells": cells}, args.out)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
