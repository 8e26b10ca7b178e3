"""The phone's core: INT8 / FP32 instructions on an emulated Cortex-A76 (Armv8.2, dot product) against an emulated
Cortex-A710 (Armv9, dot product and the int8 matrix multiply, i8mm, that XNNPACK's INT8 GEMMs use), issue 22.

MobileNetV2 1.0 (224) and the MLPerf Tiny KWS DS-CNN, FP32 and static INT8 `.pte` files (XNNPACK), run by
ek_pte_runner on emu-phone-arm's image under QEMU 10 (-icount shift=0), once with `-cpu cortex-a76` and once with
`-cpu cortex-a710`, everything else the same. Recorded per model, precision and core: user-space instructions per
inference (the guest PMU, the fewest of N runs), the device's output against the host reference (cosine: the SME
trouble `-cpu max` showed must not come back), and the INT8 / FP32 ratio per core.

    .venv/bin/python bench/bench_phone_cores.py [--runs 3]        # -> bench/results/phone_cores.json
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.measure.stats import agreement  # noqa: E402
from edgekit.models.zoo import ZOO  # noqa: E402
from edgekit.session import open_session  # noqa: E402
from edgekit.transport import make_transport  # noqa: E402

TARGET = "emu-phone-arm"
CORES = ("cortex-a76", "cortex-a710")
MODELS = ("mobilenet_v2", "kws_dscnn")
CALIBRATION = 32


def on_core(core: str) -> edgekit.Profile:
    """emu-phone-arm with QEMU's -cpu set to `core` (the profile's [emulation.options] cpu)."""
    profile = edgekit.load_profile(TARGET)
    emulation = dataclasses.replace(profile.emulation, options={**profile.emulation.options, "cpu": core})
    return dataclasses.replace(profile, emulation=emulation)


def compile_all(workdir: Path) -> dict[tuple[str, str], edgekit.Artifact]:
    arts = {}
    for name in MODELS:
        entry = ZOO[name]
        model, example = entry.factory()
        cal = edgekit.Dataset(next(iter(entry.calibration_data(CALIBRATION, 0).values())))
        for dtype, recipe in (("fp32", []), ("int8", [edgekit.Int8StaticConfig(calibration_samples=CALIBRATION)])):
            arts[name, dtype] = edgekit.compile_model(model, example, TARGET, workdir / f"{name}-{dtype}",
                                                      recipe=recipe, calibration=cal)
    return arts


def count_on(core: str, arts: dict[tuple[str, str], edgekit.Artifact], runs: int) -> dict[str, dict]:
    """Each artifact's instructions and cosine on one boot of the VM with `core` (a session per artifact)."""
    counts = {}
    with make_transport(on_core(core), None, {}) as link:
        facts = link.describe()
        for (name, dtype), art in arts.items():
            ref = art.reference()
            session, _ = open_session(link, art, timeout=900)
            try:
                session.load()
                bench = session.bench(runs=runs, warmup=1)
                device = session.predict(ref.inputs)
            finally:
                session.close()
            pmu = bench.get("instructions")
            counts[f"{name} {dtype}"] = {
                "instructions": int(min(pmu)) if pmu else None,
                "source": "guest PMU, user space, fewest of the runs" if pmu else "no PMU count",
                "cosine_vs_host": round(agreement(device[0], ref.outputs[0])["cosine"], 6)}
            print(f"{core} {name} {dtype}: {counts[f'{name} {dtype}']}", file=sys.stderr)
    return {"vm": facts.get("board"), "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgekit-cores-") as tmp:
        arts = compile_all(Path(tmp))
        cores = {core: count_on(core, arts, args.runs) for core in CORES}
    ratios = {core: {name: round(c["counts"][f"{name} int8"]["instructions"]
                                 / c["counts"][f"{name} fp32"]["instructions"], 3) for name in MODELS}
              for core, c in cores.items()}
    path = write_result("phone_cores", {
        "target": TARGET, "runtime": "ek_pte_runner (ExecuTorch 1.5.1 C++ runtime, XNNPACK, 1 thread)",
        "qemu": "qemu-system-aarch64 10.0.2 (Debian bookworm-backports), -icount shift=0",
        "runs_per_count": args.runs, "cores": cores, "int8_over_fp32": ratios,
        "seconds": round(time.perf_counter() - t0)})
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
