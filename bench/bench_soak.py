"""Soak: many consecutive requests to one deployed model, with no failure allowed, and the latency drift between the
first and the last hundred.

- serial: N inference requests (SET_INPUT + RUN + GET_OUTPUT, one sample each) to the digits firmware under QEMU
  (emulated Cortex-M4) through the serial link, each output checked against the first;
- SSH: N `predict` requests to the Python agent on the emulated Pi (sshd in a network namespace, tflite-runtime),
  each output checked against the first.
Latency per request is host wall-clock (what the link and the agent cost together, on this machine, shared and
noisy); the firmware's own SysTick time per inference (QEMU virtual time: counted instructions) is recorded too and
must not drift at all. Needs root for the emulated Pi.

    .venv/bin/python bench/bench_soak.py [--requests 1000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.models.digits import trained_digits_cnn  # noqa: E402
from edgekit.profiles import load_profile  # noqa: E402
from edgekit.session import open_session  # noqa: E402
from edgekit.transport import make_transport  # noqa: E402


def _drift(wall_s: list[float], mismatches: int, first_bad: int | None) -> dict[str, float | int | None]:
    ms = np.asarray(wall_s) * 1e3
    first, last = np.median(ms[:100]), np.median(ms[-100:])
    return {"requests": len(ms), "failures": mismatches,
            "first_mismatch_at": first_bad, "p50_first_100_ms": round(float(first), 4),
            "p50_last_100_ms": round(float(last), 4), "drift_last_vs_first": round(float(last / first), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4), "max_ms": round(float(ms.max()), 4)}


def soak(art: edgekit.Artifact, target: str, x: np.ndarray, requests: int) -> dict[str, object]:
    """`requests` one-sample predictions on `target`; every output must equal the first."""
    with make_transport(load_profile(target)) as link:
        session, _ = open_session(link, art, timeout=60)
        try:
            session.hello()
            session.load()
            expected = session.predict([x])[0]
            wall, mismatches, first_bad = [], 0, None
            for i in range(requests):
                t0 = time.perf_counter()
                y = session.predict([x])[0]
                wall.append(time.perf_counter() - t0)
                if not np.array_equal(y, expected):
                    mismatches += 1
                    first_bad = i if first_bad is None else first_bad
            figures = _drift(wall, mismatches, first_bad)
            figures["link_retries"] = session.facts.get("link_retries", 0)
            if art.format == "c-firmware":  # the firmware's own counters after the soak
                stats = session.stats()
                figures["firmware"] = {"runs": stats.runs, "systick_ticks_last_inference": stats.ticks_last,
                                       "arena_used_bytes": stats.arena_used, "stack_peak_bytes": stats.stack_peak}
        finally:
            session.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    model, split = trained_digits_cnn(epochs=6)
    example = (torch.from_numpy(split.x_test[:1]),)
    cal = edgekit.Dataset(split.x_train, split.y_train)
    x = split.x_test[:1]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        mcu = edgekit.compile_model(model, example, "emu-cortex-m4", Path(tmp) / "mcu",
                                    recipe=[edgekit.Int8StaticConfig(calibration_samples=256)], calibration=cal)
        results["serial_qemu_cortex_m4"] = soak(mcu, "emu-cortex-m4", x, args.requests)
        print("serial", results["serial_qemu_cortex_m4"], flush=True)
        pi = edgekit.compile_model(model, example, "emu-rpi4-x86", Path(tmp) / "pi",
                                   recipe=[edgekit.Int8StaticConfig(calibration_samples=256)], calibration=cal)
        results["ssh_emulated_pi"] = soak(pi, "emu-rpi4-x86", x, args.requests)
        print("ssh", results["ssh_emulated_pi"], flush=True)
    write_result("soak", {"what": "consecutive one-sample predictions to one deployed model; outputs checked "
                                  "against the first; latency = host wall-clock per request",
                          "results": results})


if __name__ == "__main__":
    main()
