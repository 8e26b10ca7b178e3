"""Conformance zoo: every zoo model compiled for every target family and run on the emulated device.

Cells per model: phone `.pte` FP32 and INT8 (emu-phone), Pi `.tflite` FP32 and INT8 (emu-rpi4-x86, needs root for
its network namespace), microcontroller C firmware INT8 (emu-cortex-m4 under QEMU) for every model (the ones too
big are refused at compile time with bytes needed against bytes available: that refusal is the cell's answer).
Each cell is ok, or the one-line reason it is not. Recorded per cell: artifact size, p50 latency (where it was
measured: this host's CPU for the phone and Pi, QEMU virtual time for the MCU), peak RSS or arena, cosine of the
device's outputs against the host reference of the same file and against the FP32 PyTorch model, and (INT8 on the
MCU) whether the firmware equals TFLite Micro byte for byte on the reference inputs. The mixed-precision cells
(phone-mixed, pi-mixed) compile `int8` with `min_cosine = 0.99` where the same run's static INT8 cell of that
target fell below 0.99 on the device, and record the layers kept float; elsewhere they say "not needed".

    .venv/bin/python bench/bench_zoo.py                      # all models, all cells -> bench/results/zoo.json
    .venv/bin/python bench/bench_zoo.py --models kws_dscnn,bert_mini --cells phone-int8,pi-int8 --out /tmp/z.json

`docs/zoo.md` (the support matrix, the compile times FP32 against INT8, the models) is written from the JSON
(`--matrix docs/zoo.md`). `--merge` updates the cells it runs in the existing JSON instead of replacing it;
`--merge-from` runs nothing and merges the models of a separate run's JSON into it:

    .venv/bin/python bench/bench_zoo.py --models unet_small,lstm_kws --out /tmp/new.json
    .venv/bin/python bench/bench_zoo.py --merge-from /tmp/new.json --matrix docs/zoo.md
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.models.zoo import ZOO, ZooEntry  # noqa: E402


@dataclass(frozen=True)
class Cell:
    name: str
    target: str
    int8: bool
    time_base: str
    min_cosine: float | None = None  # mixed precision: the fewest layers float to reach this cosine vs FP32


CELLS = {c.name: c for c in (
    Cell("phone-fp32", "emu-phone", False, "host wall-clock (emulated phone: this machine's x86 CPU)"),
    Cell("phone-int8", "emu-phone", True, "host wall-clock (emulated phone: this machine's x86 CPU)"),
    Cell("pi-fp32", "emu-rpi4-x86", False, "host wall-clock (emulated Pi: this machine's x86 CPU, Pi cgroup limits)"),
    Cell("pi-int8", "emu-rpi4-x86", True, "host wall-clock (emulated Pi: this machine's x86 CPU, Pi cgroup limits)"),
    Cell("mcu-int8", "emu-cortex-m4", True, "QEMU virtual time (-icount shift=0: 1 ns per instruction)"),
    # Issue 24: where static INT8 stays below MIXED_COSINE against FP32 on the device, the mixed-precision recipe
    # (edgekit/compress/mixed.py) on the same target; "not needed" where static INT8 reached it.
    Cell("phone-mixed", "emu-phone", True, "host wall-clock (emulated phone: this machine's x86 CPU)", 0.99),
    Cell("pi-mixed", "emu-rpi4-x86", True,
         "host wall-clock (emulated Pi: this machine's x86 CPU, Pi cgroup limits)", 0.99),
)}
CALIBRATION = 64
EVAL = 32


def _dataset(arrays: dict[str, np.ndarray]) -> edgekit.Dataset:
    return edgekit.Dataset(arrays["x"] if list(arrays) == ["x"] else arrays)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, edgekit.EdgekitError):
        return exc.one_line()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def _failed(status: str, exc: BaseException) -> dict[str, Any]:
    """A cell that ends in an exception: an edgekit error is a refusal or a failure with its exit code (docs/errors.md);
    anything else is what the CLI reports as an internal error, exit 70 (a bug), recorded with its traceback."""
    if isinstance(exc, edgekit.EdgekitError):
        return {"status": status, "reason": _one_line(exc), "exit_code": exc.exit_code}
    return {"status": "internal error", "reason": f"during {status.split()[0]}: {_one_line(exc)}", "exit_code": 70,
            "traceback": _where(exc)}


def _where(exc: BaseException) -> str:
    """The traceback's edgekit frames and the last two (where the library raised): enough to place the bug."""
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [f for i, f in enumerate(frames) if "/edgekit/" in f.filename or i >= len(frames) - 2]
    return "".join(traceback.format_list(keep)) + "".join(traceback.format_exception_only(type(exc), exc))


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children: unlike wall-clock, not inflated by
    other work on a shared host (it still counts what compile does on a second thread)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_cell(entry: ZooEntry, cell: Cell, workdir: Path, runs: int) -> dict[str, Any]:
    model, example = entry.factory()
    cal = _dataset(entry.calibration_data(CALIBRATION, 0))
    recipe = [edgekit.Int8StaticConfig(calibration_samples=CALIBRATION, min_cosine=cell.min_cosine)] \
        if cell.int8 else []
    result: dict[str, Any] = {"target": cell.target, "latency_time_base": cell.time_base}
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    try:
        art = edgekit.compile_model(model, example, cell.target, workdir / f"{entry.name}-{cell.name}",
                                    recipe=recipe, calibration=cal, input_names=entry.input_names,
                                    output_names=entry.output_names, input_ranges=entry.int_ranges or None)
    except Exception as exc:  # a cell that fails is recorded with its reason, never fatal to the run
        return {**result, **_failed("compile failed", exc), "compile_s": round(time.perf_counter() - t0, 1),
                "compile_cpu_s": round(_cpu_seconds() - cpu0, 1)}
    result["compile_s"] = round(time.perf_counter() - t0, 1)
    result["compile_cpu_s"] = round(_cpu_seconds() - cpu0, 1)
    export = art.manifest["export"]
    result.update({"size_bytes": art.size_bytes, "route": export.get("route") or export.get("exporter"),
                   "macs": art.manifest["model"]["macs"], "params": art.manifest["model"]["params"]})
    if export.get("delegation"):
        result["not_delegated_ops"] = {op: v["count"] for op, v in export["delegation"]["not_delegated_ops"].items()}
    if art.manifest.get("numerics"):
        result["numerics"] = art.manifest["numerics"]
    if art.manifest.get("mixed_precision"):
        result["mixed_precision"] = {k: art.manifest["mixed_precision"].get(k) for k in
                                     ("min_cosine", "aim", "kept_float", "float_layers", "cosine_all_int8",
                                      "cosine", "reached", "rounds", "ranked_layers", "tried")}
    t0 = time.perf_counter()
    try:
        report = edgekit.benchmark(art, cell.target, runs=runs, warmup=min(5, runs), timeout=600)
    except Exception as exc:
        return {**result, **_failed("run failed", exc), "bench_s": round(time.perf_counter() - t0, 1)}
    result["bench_s"] = round(time.perf_counter() - t0, 1)
    fid = report["fidelity"]
    mem = report["memory"]
    result.update({
        "status": "ok",
        "latency_p50_ms": report["latency_ms"]["p50"],
        "latency_measured_on": report["latency_ms"]["measured_on"],
        "instructions_per_inference": (report.get("counters") or {}).get("instructions_per_inference"),
        "peak_rss_bytes": mem.get("peak_rss_bytes"),
        "arena_bytes": mem.get("arena_used_bytes") or mem.get("arena_bytes"),
        "cosine_vs_host": fid["vs_host"]["cosine"],
        "cosine_vs_fp32": fid["vs_float"]["cosine"] if fid["vs_float"] else None,
        "outputs": [{"name": o["name"], "cosine_vs_host": o["vs_host"]["cosine"],
                     "cosine_vs_fp32": o["vs_float"]["cosine"] if o["vs_float"] else None}
                    for o in fid.get("outputs", [])] or None,
    })
    if cell.target.startswith("emu-cortex"):
        # The MCU artifact's host reference is TFLite Micro on the same .tflite (the exporter's reference_fn), so
        # the firmware is bit-exact with TFLite Micro exactly when no output value differs from the reference.
        result["bit_exact_with_tflite_micro"] = all(
            o["vs_host"]["max_abs"] == 0 for o in fid.get("outputs") or [fid])
    return result


def _compile_times(doc: dict[str, Any]) -> list[str]:
    """Compile seconds per cell, FP32 beside INT8 with their ratio (the issue's bound: INT8 within 5x of FP32)."""
    pairs = [("phone", "phone-fp32", "phone-int8"), ("pi", "pi-fp32", "pi-int8")]
    lines = ["## Compile time", "",
             "Wall-clock seconds of `edgekit.compile_model` per cell (export, quantization with 64 calibration "
             "samples, and whatever checks compile made when the cell was run: the INT8 cells below 0.99 cosine also "
             "run the numerics debugger), on the machine of the run that made the cell (two cores, shared: expect "
             "some noise); INT8 / FP32 in parentheses, in bold above 5x, then the same ratio in CPU seconds "
             "(user + system of the process, `compile_cpu_s`), which load from other work on the host does not "
             "inflate.", "",
             "| model | phone FP32 | phone INT8 | Pi FP32 | Pi INT8 | MCU INT8 |", "|---|---|---|---|---|---|"]

    def secs(r: dict[str, Any] | None) -> str:
        return "-" if r is None or r.get("compile_s") is None else f"{r['compile_s']:.1f}"

    for name, row in doc["models"].items():
        out = []
        for _, fp32, int8 in pairs:
            a, b = row["cells"].get(fp32), row["cells"].get(int8)
            out.append(secs(a))
            ratio = ""
            if a and b and a.get("compile_s") and b.get("compile_s") is not None:
                x = b["compile_s"] / a["compile_s"]
                ratio = f" ({x:.1f}x" if x <= 5 else f" (**{x:.1f}x**"
                if a.get("compile_cpu_s") and b.get("compile_cpu_s") is not None:
                    ratio += f"; CPU {b['compile_cpu_s'] / a['compile_cpu_s']:.1f}x"
                ratio += ")"
            out.append(secs(b) + ratio)
        mcu = row["cells"].get("mcu-int8")
        out.append(secs(mcu) + ("" if mcu is None or mcu["status"] == "ok" else " (refused)"))
        lines.append(f"| {name} | " + " | ".join(out) + " |")
    return lines


def _models_table(names: list[str]) -> list[str]:
    """What each zoo model is: inputs (shape, dtype, from its data generator), outputs, MCU-sized, source."""
    lines = ["## Models", "",
             "Each model is `edgekit/models/zoo/<name>.py:build` (its docstring cites the definition it follows and "
             "says where it departs); see `edgekit/models/zoo/__init__.py` for the data kinds.", "",
             "| model | family | inputs | outputs | MCU-sized | follows | departs |", "|---|---|---|---|---|---|---|"]
    for name in names:
        e = ZOO.get(name)
        if e is None:
            continue
        data = e.data(1, 0)
        inputs = ", ".join(f"{k} {tuple(data[k].shape)} {data[k].dtype}" for k in e.input_names)
        lines.append(f"| {name} | {e.family} | {inputs} | {', '.join(e.output_names)} | "
                     f"{'yes' if e.mcu_sized else 'no'} | {e.source} | {e.deviations or '-'} |")
    return lines


def write_matrix(doc: dict[str, Any], path: Path) -> None:
    cells = list(CELLS)
    lines = ["# Conformance zoo: support matrix", "",
             f"Written by `bench/bench_zoo.py` from `bench/results/zoo.json` ({doc['created']}, "
             f"{doc['machine']['cpu']}). Each cell: status, artifact size, p50 latency, cosine of the device's "
             "outputs against the FP32 PyTorch model. Latency time bases differ by column: the phone and Pi columns "
             "are this host's x86 CPU (wall-clock), the MCU column is QEMU virtual time (instructions), so compare "
             "within a column only.", "",
             "| model | family | " + " | ".join(cells) + " |", "|---|---|" + "---|" * len(cells)]
    notes = []
    for name, row in doc["models"].items():
        entries = []
        for c in cells:
            r = row["cells"].get(c)
            static = row["cells"].get(c.replace("-mixed", "-int8")) if CELLS[c].min_cosine else None
            if r is None and static and (static.get("cosine_vs_fp32") or 0) >= CELLS[c].min_cosine:
                entries.append(f"not needed (static INT8 cos {static['cosine_vs_fp32']:.4f})")
            elif r is None:
                entries.append("not run")
            elif r["status"] == "not needed":
                entries.append("not needed")
            elif r["status"] == "ok":
                lat = f"{r['latency_p50_ms']:.3g} ms" if r.get("latency_p50_ms") is not None else "?"
                cos = f"cos {r['cosine_vs_fp32']:.4f}" if r.get("cosine_vs_fp32") is not None else ""
                search = r.get("mixed_precision") or {}
                kept = search.get("kept_float")
                count = search.get("float_layers", len(kept or ()))
                of = f" of {search['ranked_layers']}" if search.get("ranked_layers") else ""
                float_layers = "" if kept is None else f", {count}{of} layers float" + (
                    "" if search.get("reached") else f" (below {search.get('min_cosine')})")
                entries.append(f"ok, {r['size_bytes'] / 1024:,.0f} KiB, {lat}, {cos}{float_layers}")
            else:
                code = f" (exit {r['exit_code']})" if r.get("exit_code") is not None else ""
                notes.append(f"- **{name} / {c}**: {r['status']}{code}: {r['reason']}")
                entries.append(f"{r['status']} (see below)")
        lines.append(f"| {name} | {row['family']} | " + " | ".join(entries) + " |")
    lines += ["", "## Cells that are not ok", ""] + (notes or ["None."])
    lines += [""] + _compile_times(doc) + [""] + _models_table(list(doc["models"]))
    runs = doc.get("runs") or [doc]
    lines += ["", "Reproduce (each run, in order; `--merge` runs replace the cells they name, a run merged with "
              "`--merge-from` adds or replaces its models' cells):", ""]
    lines += [f"- `{run['command']}` ({run['created']})" + (f": {run['note']}" if run.get("note") else "")
              for run in runs] + [""]
    path.write_text("\n".join(lines + _other_sections(path, lines)))


def _other_sections(path: Path, written: list[str]) -> list[str]:
    """The `## ` sections of the existing file that the matrix does not write (e.g. the trained-accuracy section
    bench_trained_accuracy.py fills), kept after it."""
    if not path.exists():
        return []
    ours = {line for line in written if line.startswith("## ")}
    kept, keep = [], False
    for line in path.read_text().splitlines():
        if line.startswith("## ") or line.startswith("# "):
            keep = line.startswith("## ") and line not in ours
        if keep:
            kept.append(line)
    return kept + [""] if kept else []


def _runs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs that made a results JSON: its 'runs', or the one run its top-level command names."""
    return doc.get("runs") or [{k: doc[k] for k in ("command", "created", "machine") if k in doc}]


def merge_from(source: Path, path: Path) -> Path:
    """Merge the models of `source` (a separate run's JSON) into `path`, keeping every other model as it is; the
    source's runs are appended to 'runs' with a note saying they were merged, when and from where (that note is
    the merge's one entry: earlier versions also listed the merge command itself, which ran nothing)."""
    new = json.loads(source.read_text())
    doc = json.loads(path.read_text())
    runs = [run for run in _runs(doc) if not str(run.get("note", "")).startswith("runs nothing: merges")]
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for run in _runs(new):
        runs.append({**run, "note": f"a separate run into {source}; its cells merged into this file on {now} "
                                    "with --merge-from"})
    for name, row in new["models"].items():
        doc["models"].setdefault(name, {**row, "cells": {}})["cells"].update(row["cells"])
    doc["cells"].update(new["cells"])
    return write_result("zoo", {"cells": doc["cells"], "models": doc["models"], "runs": runs}, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO), help="comma-separated zoo names")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated: " + ", ".join(CELLS))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/zoo.json)")
    parser.add_argument("--matrix", type=Path, help="also write the support matrix (markdown) here")
    parser.add_argument("--merge", action="store_true",
                        help="update these cells in the existing JSON instead of starting a new one (the commands "
                             "that made each part are kept under 'runs')")
    parser.add_argument("--merge-from", type=Path, metavar="JSON",
                        help="run nothing: merge the models of this separate run's JSON into --out (theirs replace "
                             "the cells they have) and record that run's command and date under 'runs'")
    args = parser.parse_args()
    if args.merge_from:
        path = merge_from(args.merge_from, args.out or RESULTS / "zoo.json")
        if args.matrix:
            write_matrix(json.loads(path.read_text()), args.matrix)
        print(path)
        return
    models = [m for m in args.models.split(",") if m]
    cells = [CELLS[c] for c in args.cells.split(",") if c]
    unknown = [m for m in models if m not in ZOO]
    if unknown:
        sys.exit(f"unknown zoo models: {', '.join(unknown)} (have: {', '.join(ZOO)})")
    doc: dict[str, Any] = {"cells": {c.name: {"target": c.target, "int8": c.int8, "latency_time_base": c.time_base}
                                     for c in cells}, "models": {}}
    # The models done so far, after each one: a run stopped part-way keeps them (merge with --merge-from).
    partial = Path(tempfile.gettempdir()) / f"edgekit-zoo-{os.getpid()}.partial.json"
    print(f"cells so far, after each model: {partial}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-zoo-") as tmp:
        for name in models:
            entry = ZOO[name]
            row = {"family": entry.family, "source": entry.source, "cells": {}}
            doc["models"][name] = row
            for cell in cells:
                print(f"[{time.strftime('%H:%M:%S')}] {name} / {cell.name} ...", file=sys.stderr, flush=True)
                static = row["cells"].get(cell.name.replace("-mixed", "-int8")) if cell.min_cosine else None
                if static and static.get("cosine_vs_fp32") is not None and static["cosine_vs_fp32"] >= cell.min_cosine:
                    row["cells"][cell.name] = {"status": "not needed", "target": cell.target, "reason":
                                               f"static INT8 reaches cosine {static['cosine_vs_fp32']:.4f} on the "
                                               f"device (>= {cell.min_cosine})"}
                    continue
                try:
                    row["cells"][cell.name] = run_cell(entry, cell, Path(tmp), args.runs)
                except Exception as exc:  # a bug in a cell: recorded, the run goes on
                    row["cells"][cell.name] = {"status": "error", "reason": _one_line(exc),
                                               "traceback": traceback.format_exc(limit=4)}
                r = row["cells"][cell.name]
                print(f"    {r['status']}: {r.get('reason', '')}"[:300], file=sys.stderr, flush=True)
            write_result("zoo", doc, partial)
    path = args.out or RESULTS / "zoo.json"
    if args.merge and path.is_file():
        previous = json.loads(path.read_text())
        runs = previous.get("runs") or [{k: previous[k] for k in ("command", "created", "machine") if k in previous}]
        for name, row in doc["models"].items():
            previous["models"].setdefault(name, {**row, "cells": {}})["cells"].update(row["cells"])
        previous["cells"].update(doc["cells"])
        doc = {"cells": previous["cells"], "models": previous["models"], "runs": runs}
    path = write_result("zoo", doc, path)
    if args.merge:
        merged = json.loads(path.read_text())
        merged["runs"] = merged.get("runs", []) + [{k: merged[k] for k in ("command", "created", "machine")}]
        path.write_text(json.dumps(merged, indent=2) + "\n")
    if args.matrix:
        write_matrix(json.loads(path.read_text()), args.matrix)
    partial.unlink(missing_ok=True)
    print(path)


if __name__ == "__main__":
    main()
