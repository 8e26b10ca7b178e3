"""The phone on an Arm core: a .pte in ExecuTorch's C++ runtime on emu-phone-arm, against the x86 stand-in.

For MobileNetV1 1.0 (224x224) and the digits CNN, FP32 and INT8 (XNNPACK PT2E) .pte files:
- on emu-phone-arm (ek_pte_runner on the profile's emulated core, a Cortex-A710 since issue 22; QEMU -icount):
  instructions per inference (fastest of N runs of the guest clock) and the runner process's peak RSS, the way an
  app's memory would be measured;
- on emu-phone (the x86 stand-in: the Python agent with torch on this host): p50 wall-clock and that process's
  peak RSS, for contrast;
- the INT8 / FP32 ratio from counts (what an Armv9 phone core would see: XNNPACK's dot-product / i8mm kernels);
- a cycles-per-instruction figure for the Pixel profile fitted on XNNPACK's README single-thread phone table
  (Pixel 3a, a Cortex-A75-class core at 2.0 GHz, MobileNet v1 FP32 88 ms), stated with that source.

    .venv/bin/python bench/bench_phone_arm.py [--runs 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_arm_calibration import MobileNetV1  # noqa: E402
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.emulators import emulator_for  # noqa: E402
from edgekit.models.digits import trained_digits_cnn  # noqa: E402
from edgekit.session import open_session  # noqa: E402
from edgekit.transport import make_transport  # noqa: E402

ARM, X86 = "emu-phone-arm", "emu-phone"
PUBLISHED = {"model": "mobilenet_v1", "dtype": "fp32", "ms": 88.0, "clock_hz": 2.0e9,
             "source": "google/XNNPACK README.md, single-threaded phone table: FP32 MobileNet v1 1.0X on Pixel 3a "
                       "(Snapdragon 670, Kryo 360 Gold = Cortex-A75 class, 2.0 GHz) 88 ms"}


def compile_models(workdir: Path) -> dict[tuple[str, str], edgekit.Artifact]:
    torch.manual_seed(0)
    digits, split = trained_digits_cnn()
    cases = {"mobilenet_v1": (MobileNetV1().eval(), torch.randn(1, 3, 224, 224),
                              np.random.default_rng(0).standard_normal((32, 3, 224, 224)).astype(np.float32)),
             "digits": (digits, torch.from_numpy(split.x_test[:1]), split.x_train[:256])}
    arts = {}
    for name, (model, example, cal) in cases.items():
        for dtype, recipe in (("fp32", []), ("int8", [edgekit.Int8StaticConfig(calibration_samples=len(cal))])):
            arts[name, dtype] = edgekit.compile_model(model, (example,), ARM, workdir / f"{name}-{dtype}",
                                                      recipe=recipe, calibration=edgekit.Dataset(cal))
    return arts


def measure(target: str, options: dict | None, art: edgekit.Artifact, runs: int) -> dict:
    with make_transport(edgekit.load_profile(target), None, options) as link:
        session, _ = open_session(link, art, timeout=600)
        try:
            session.load()
            lat = session.bench(runs=runs, warmup=1)["latencies_ns"]
            mem = session.memory()
        finally:
            session.close()
    return {"min_ns": int(min(lat)), "p50_ns": int(np.median(lat)), "peak_rss_bytes": mem["peak_rss_bytes"],
            "process": mem.get("process", "the Python agent")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        arts = compile_models(Path(tmp))
        with emulator_for(edgekit.load_profile(ARM)) as vm:
            facts, options = vm.describe(), vm.transport_options()
            per_ns = facts["instructions_per_virtual_ns"]
            for key, art in arts.items():
                arm = measure(ARM, options, art, args.runs)
                x86 = measure(X86, None, art, max(args.runs, 50))
                rows[key] = {"pte_bytes": art.size_bytes, "instructions": int(arm["min_ns"] * per_ns),
                             "arm_runner_peak_rss_bytes": arm["peak_rss_bytes"], "arm_process": arm["process"],
                             "x86_standin_p50_ms": x86["p50_ns"] / 1e6,
                             "x86_standin_peak_rss_bytes": x86["peak_rss_bytes"]}
                print(key, rows[key], file=sys.stderr)
    base = rows[PUBLISHED["model"], PUBLISHED["dtype"]]["instructions"]
    cpi = PUBLISHED["ms"] * 1e-3 * PUBLISHED["clock_hz"] / base
    figures = {
        "vm": facts, "runs": args.runs,
        "models": {f"{m} {d}": r for (m, d), r in rows.items()},
        "int8_over_fp32_instructions": {m: round(rows[m, "int8"]["instructions"] / rows[m, "fp32"]["instructions"],
                                                 3) for m in ("mobilenet_v1", "digits")},
        "cpi_fit": {**PUBLISHED, "instructions": base, "cycles_per_instruction": round(cpi, 3)},
        "x86_standin_note": "emu-phone latencies are wall-clock on this host's x86 CPU and its memory is a Python "
                            "process with torch: contrast only, not a phone figure",
    }
    print(f"wrote {write_result('phone_arm', figures)}")


if __name__ == "__main__":
    main()
