"""A labgrid farm on loopback, measured: how long the farm takes to come up, how soon a queued bench gets a place
after its holder lets go, what a bench through a place costs over a local one, and whether the emulated
microcontroller counts the same instructions through the farm as locally. Writes bench/results/farm.json.

    .venv/bin/python bench/bench_farm.py [--handoffs 5] [--repeats 3]

Needs root (the emulated Pi is sshd in a network namespace) and qemu-system-arm. Everything listens on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.emulators.base import free_loopback_port, stop_process  # noqa: E402
from edgekit.farm.place import FarmSession  # noqa: E402
from edgekit.models.digits import trained_digits_cnn  # noqa: E402

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
PLACES = ("emu-rpi4-x86", "emu-cortex-m4")


def bench(artifact: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "edgekit"), "bench", str(artifact), "--json", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    if proc.returncode:
        raise SystemExit(f"bench failed ({proc.returncode}): {err.strip()[-500:]}")
    return json.loads(out)


def timed(artifact: Path, *args: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    report = finish(bench(artifact, *args))
    return time.perf_counter() - t0, report


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--handoffs", type=int, default=5, help="rounds of two benches contending for the Pi's place")
    p.add_argument("--repeats", type=int, default=3, help="MCU benches through the farm and locally")
    args = p.parse_args()
    model, split = trained_digits_cnn(epochs=12)
    example = (torch.from_numpy(split.x_test[:1]),)
    cal = edgekit.Dataset(split.x_train, split.y_train)
    with tempfile.TemporaryDirectory(prefix="edgekit-farm-bench-") as tmp:
        tmp_path = Path(tmp)
        pi = edgekit.compile_model(model, example, "emu-rpi4-x86", tmp_path / "pi").path
        mcu = edgekit.compile_model(model, example, "emu-cortex-m4", tmp_path / "mcu",
                                    recipe=[edgekit.Int8StaticConfig()], calibration=cal).path
        address = f"127.0.0.1:{free_loopback_port()}"
        (tmp_path / "coordinator").mkdir()
        coordinator = subprocess.Popen([str(BIN / "labgrid-coordinator"), "--listen", address],
                                       cwd=tmp_path / "coordinator", stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        exporter = None
        try:
            time.sleep(1.0)
            t0 = time.perf_counter()
            exporter = subprocess.Popen([str(BIN / "edgekit"), "farm", "export", *PLACES, "--coordinator", address],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            while "farm ready" not in (line := exporter.stdout.readline()):
                if not line:
                    raise SystemExit(f"farm export failed: {exporter.stderr.read()[-500:]}")
            farm_up_s = time.perf_counter() - t0

            handoffs = []
            for _ in range(args.handoffs):
                holder = bench(pi, "--place", "emu-rpi4-x86", "--coordinator", address, "--runs", "200",
                               "--cooldown", "0.01")
                session = FarmSession(address)
                try:
                    while session.places["emu-rpi4-x86"].acquired is None:
                        time.sleep(0.05)
                        session.sync()
                finally:
                    session.close()
                waiter = bench(pi, "--place", "emu-rpi4-x86", "--coordinator", address, "--runs", "10")
                first, second = finish(holder)["place"], finish(waiter)["place"]
                handoffs.append({"holder_released_at": first["released_at"], "waiter_locked_at": second["locked_at"],
                                 "gap_s": round(second["locked_at"] - first["released_at"], 3),
                                 "waiter_waited_s": second["waited_s"]})

            mcu_args = ("--runs", "10")
            farm_runs = [timed(mcu, "--place", "emu-cortex-m4", "--coordinator", address, *mcu_args)
                         for _ in range(args.repeats)]
            local_runs = [timed(mcu, "-t", "emu-cortex-m4", *mcu_args) for _ in range(args.repeats)]
        finally:
            stop_process(exporter, grace_s=30)
            stop_process(coordinator)

    gaps = [h["gap_s"] for h in handoffs]
    instructions = {"farm": sorted({r["counters"]["instructions_per_inference"] for _, r in farm_runs}),
                    "local": sorted({r["counters"]["instructions_per_inference"] for _, r in local_runs})}
    figures = {
        "what": "labgrid 26.0.1 coordinator + `edgekit farm export emu-rpi4-x86 emu-cortex-m4` on 127.0.0.1; "
                "benches through the real CLI; wall-clock on this host",
        "farm_up_s": round(farm_up_s, 2),
        "handoff": {"rounds": handoffs, "gap_median_s": statistics.median(gaps), "gap_max_s": max(gaps),
                    "note": "gap = the queued bench's lock time minus the holder's release time (this host's clock)"},
        "mcu_bench_wall_s": {"through_place": [round(t, 2) for t, _ in farm_runs],
                             "local_qemu": [round(t, 2) for t, _ in local_runs],
                             "median_ratio_place_over_local": round(
                                 statistics.median(t for t, _ in farm_runs) /
                                 statistics.median(t for t, _ in local_runs), 3)},
        "mcu_instructions_per_inference": instructions,
        "mcu_instructions_identical": instructions["farm"] == instructions["local"] and len(instructions["farm"]) == 1,
    }
    print(json.dumps(figures, indent=2))
    print(f"wrote {write_result('farm', figures)}")


if __name__ == "__main__":
    main()
