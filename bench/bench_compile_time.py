"""Compile time, FP32 against INT8: every zoo model (and a `transformers` MobileViT as users bring it) compiled for
the Pi's `.tflite` (emu-rpi4-x86) and the phone's `.pte` (emu-phone), FP32 and static INT8, one compile each.

Issue 26 asks that no INT8 compile take more than 5x its FP32 compile. Recorded per model and target: the seconds
of `edgekit.compile_model` (model construction and data generation excluded) for each precision, the INT8/FP32
ratio, and the reason where a compile failed. A warm-up compile of a small model per target and precision comes
first and is not recorded, so neither column pays the one-off imports (TensorFlow, litert-torch, ExecuTorch).

    .venv/bin/python bench/bench_compile_time.py                                  # -> bench/results/compile_time.json
    .venv/bin/python bench/bench_compile_time.py --models kws_dscnn,hf_mobilevit --targets emu-phone --out /tmp/c.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.models.hf_tiny
from bench_zoo import _cpu_seconds, _dataset, _one_line  # noqa: E402
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.models.zoo import ZOO  # noqa: E402

TARGETS = ("emu-rpi4-x86", "emu-phone")
CALIBRATION = 64  # as bench_zoo.py
LIMIT = 5.0  # issue 26: INT8 within 5x FP32


def _mobilevit() -> dict[str, Any]:
    """The tiny `transformers` MobileViT of tests/models/hf_tiny.py (the model of issue 26 item 4), as it comes."""
    from tests.models.hf_tiny import mobilevit_classifier

    def data(n: int, seed: int) -> dict[str, np.ndarray]:
        return {"x": np.random.default_rng(seed).standard_normal((n, 3, 64, 64), dtype=np.float32)}
    return {"factory": mobilevit_classifier, "calibration_data": data, "input_names": None, "output_names": None,
            "int_ranges": None}


def _zoo(name: str) -> dict[str, Any]:
    e = ZOO[name]
    return {"factory": e.factory, "calibration_data": e.calibration_data, "input_names": e.input_names,
            "output_names": e.output_names, "int_ranges": e.int_ranges or None}


MODELS: dict[str, Callable[[], dict[str, Any]]] = {**{n: (lambda n=n: _zoo(n)) for n in ZOO},
                                                   "hf_mobilevit": _mobilevit}


def compile_seconds(spec: dict[str, Any], target: str, int8: bool, outdir: Path) -> dict[str, Any]:
    model, example = spec["factory"]()
    cal = _dataset(spec["calibration_data"](CALIBRATION, 0))
    recipe = [edgekit.Int8StaticConfig(calibration_samples=CALIBRATION)] if int8 else []
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    try:
        edgekit.compile_model(model, example, target, outdir, recipe=recipe, calibration=cal,
                              input_names=spec["input_names"], output_names=spec["output_names"],
                              input_ranges=spec["int_ranges"], force=True)
    except Exception as exc:  # a failed compile is recorded with its reason, never fatal to the run
        return {"status": "failed", "reason": _one_line(exc), "compile_s": round(time.perf_counter() - t0, 1)}
    return {"status": "ok", "compile_s": round(time.perf_counter() - t0, 1),
            "compile_cpu_s": round(_cpu_seconds() - cpu0, 1)}


def warm_up(targets: list[str], workdir: Path) -> None:
    import torch
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 14 * 14, 4)).eval()
    spec = {"factory": lambda: (model, (torch.randn(1, 3, 16, 16),)), "input_names": None, "output_names": None,
            "int_ranges": None,
            "calibration_data": lambda n, s: {"x": np.random.default_rng(s).random((n, 3, 16, 16), np.float32)}}
    for target in targets:
        for int8 in (False, True):
            compile_seconds(spec, target, int8, workdir / f"warmup-{target}-{int8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated device profiles")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/compile_time.json)")
    args = parser.parse_args()
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    targets = [t for t in args.targets.split(",") if t]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgekit-compile-time-") as tmp:
        work = Path(tmp)
        warm_up(targets, work)
        for name in names:
            spec = MODELS[name]()
            row: dict[str, Any] = {}
            for target in targets:
                cell = {prec: compile_seconds(spec, target, prec == "int8", work / f"{name}-{target}-{prec}")
                        for prec in ("fp32", "int8")}
                if all(c["status"] == "ok" for c in cell.values()):
                    cell["int8_over_fp32"] = round(cell["int8"]["compile_s"] / max(cell["fp32"]["compile_s"], 0.1), 2)
                    cell["int8_over_fp32_cpu"] = round(cell["int8"]["compile_cpu_s"] /
                                                       max(cell["fp32"]["compile_cpu_s"], 0.1), 2)
                row[target] = cell
                print(f"{name:20s} {target:14s} fp32 {cell['fp32']['compile_s']:7.1f}s  "
                      f"int8 {cell['int8']['compile_s']:7.1f}s  ratio {cell.get('int8_over_fp32', '-')}", flush=True)
            results[name] = row
    over = [f"{m} {t}" for m, row in results.items() for t, c in row.items()
            if c.get("int8_over_fp32", 0) > LIMIT]
    doc = {"targets": targets, "calibration_samples": CALIBRATION, "limit_int8_over_fp32": LIMIT,
           "time_base": "host wall-clock seconds of edgekit.compile_model, one compile per cell, after a warm-up; "
                        "compile_cpu_s: the process's user + system CPU seconds over the same compile",
           "models": results, "over_limit": over}
    print(f"wrote {write_result('compile_time', doc, args.out)}; over {LIMIT}x: {over or 'none'}")


if __name__ == "__main__":
    main()
