"""Boards users own, through the real CLI: the digits CNN and the MLPerf Tiny KWS DS-CNN compiled for
b-l475e-iot01a and run, as that very firmware.bin, on QEMU 10's b-l475e-iot01a machine (emu-b-l475e-iot01a),
with the rate at which the firmware receives frames there (and on emu-microbit, the nRF UART driver's M0 build);
the same models on emu-cortex-m4 (QEMU mps2-an386), to set QEMU 10's counts beside the ones the repo recorded
under QEMU 7.2; and the DS-CNN on the nucleo-l4r5zi profile (MLPerf Tiny's reference board), whose latency is an
ESTIMATE beside the published MLPerf Tiny v1.1 latencies on that board.

    .venv/bin/python bench/bench_mcu_boards.py [--runs 5] [--out PATH]   # -> bench/results/mcu_boards.json

QEMU counts instructions (-icount shift=0: 1 instruction = 1 ns of virtual time), not cycles. The NUCLEO-L4R5ZI
estimate is counted instructions x the profile's cycles per instruction / its 120 MHz clock: the nucleo's image
runs the same model.c and the same kernels built with the same flags (-mcpu=cortex-m4, DSP kernels) as the
B-L475E-IOT01A's one that QEMU ran; only the port (clock tree, LPUART1) differs, and it is outside the timed
region.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from common import write_result  # noqa: E402

from edgekit.emulators.qemu import QemuMachine  # noqa: E402
from edgekit.models.zoo import ZOO  # noqa: E402
from edgekit.session import firmware_protocol as P  # noqa: E402
from edgekit.profiles import load_profile  # noqa: E402

EDGEKIT = [sys.executable, "-m", "edgekit"]
CALIBRATION = 64
# MLPerf Tiny v1.1 closed division, KWS on the NUCLEO-L4R5ZI (ms per inference), as published (stack-notes)
PUBLISHED_KWS_MS = {"ST X-CUBE-AI 8.1": 62.87, "microTVM + CMSIS-NN": 99.81, "TFLite Micro reference (v0.5)": 181.9}
# What the repo recorded under QEMU 7.2 for the same model, data and kernels (emu-cortex-m4, DSP kernels). The
# digits CNN has none: bench/results/mcu.json predates the current kernels, and the farm's figure is for the
# test suite's own training run (other weights).
QEMU72_KWS = 7_249_800  # bench/results/mcu_mlperf.json as of 2026-11-30 (QEMU 7.2)


def _cli(*args: Any) -> subprocess.CompletedProcess:
    proc = subprocess.run([*EDGEKIT, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"edgekit {args[0]} failed: {proc.stderr.strip()[-400:]}")
    return proc


def _calibration(name: str, tmp: Path) -> tuple[str, Path]:
    """The model's factory spec and a calibration .npz, as a user would pass them to the CLI."""
    path = tmp / f"{name}-cal.npz"
    if name == "digits":
        subprocess.run([sys.executable, "examples/digits_cnn.py", str(tmp / "digits")], cwd=ROOT,
                                      capture_output=True, text=True, check=True, timeout=600)
        return "examples/digits_cnn.py:build", tmp / "digits" / "digits_train.npz"
    np.savez(path, **ZOO[name].calibration_data(CALIBRATION, 0))
    return f"edgekit/models/zoo/{name}.py:build", path


def receive_rate(art: Path, emulated: str, frames: int = 50) -> dict[str, Any]:
    """Host -> firmware bytes per wall second: SET_INPUT frames of the model's input size, each answered."""
    options = load_profile(emulated).emulation.options
    manifest = json.loads((art / "manifest.json").read_text())
    fw = manifest["export"]["firmware"]
    payload = P.set_input_payload(0, bytes(fw["input_bytes"]))
    with tempfile.TemporaryDirectory() as tmp, \
            QemuMachine(options["machine"], art / "firmware.bin", load_address=int(fw["build"]["flash_origin"], 16),
                        memory=options.get("memory"), limit_s=120, log=Path(tmp) / "qemu.log") as qemu:
        with qemu.connect() as sock:
            def exchange(frame: bytes) -> None:
                sock.sendall(frame)
                decoder = P.FrameDecoder()
                while not decoder.feed(sock.recv(4096)):
                    pass
            sock.settimeout(0.5)  # bytes sent before the firmware enabled its UART are lost: ask again
            for attempt in range(40):
                try:
                    exchange(P.encode_frame(P.Cmd.INFO, attempt + 1))
                    break
                except TimeoutError:
                    continue
            try:  # late answers to the earlier attempts
                while sock.recv(4096):
                    pass
            except TimeoutError:
                pass
            sock.settimeout(10)
            t0 = time.perf_counter()
            for i in range(frames):
                exchange(P.encode_frame(P.Cmd.SET_INPUT, i % 256, payload))
            seconds = time.perf_counter() - t0
    frame_bytes = len(P.encode_frame(P.Cmd.SET_INPUT, 0, payload))
    return {"frame_bytes": frame_bytes, "frames": frames, "ms_per_frame": round(seconds / frames * 1e3, 2),
            "bytes_per_s": round(frames * frame_bytes / seconds)}


def run_model(name: str, tmp: Path, runs: int) -> dict[str, Any]:
    spec, cal = _calibration(name, tmp)
    out: dict[str, Any] = {"factory": spec}
    for target in ("b-l475e-iot01a", "emu-cortex-m4", "nucleo-l4r5zi"):
        art = tmp / f"{name}-{target}"
        _cli("compile", spec, "--target", target, "--quantize", "int8", "--calibration", cal, "-o", art)
        fw = json.loads((art / "manifest.json").read_text())["export"]["firmware"]
        out[target] = {"flash_bytes": fw["flash_bytes"], "ram_bytes": fw["ram_bytes"],
                       "arena_bytes": fw["arena_bytes"], "macs": fw["macs"], "kernels": fw["build"]["kernels"],
                       "model_c_sha256": hashlib.sha256((art / "model.c").read_bytes()).hexdigest()}
    for target, built in (("emu-b-l475e-iot01a", "b-l475e-iot01a"), ("emu-cortex-m4", "emu-cortex-m4")):
        art = tmp / f"{name}-{built}"
        report = json.loads(_cli("bench", art, "--target", target, "--runs", runs, "--json").stdout)
        image = report["target"].get("image", {})
        out[target] = {
            "instructions_per_inference": report["counters"]["instructions_per_inference"],
            "qemu_machine": report["measured_on"]["machine"],
            "firmware_profile": report["measured_on"]["firmware_profile"],
            "image_sha256_is_the_built_firmware_bin": image.get("sha256") ==
            hashlib.sha256((art / "firmware.bin").read_bytes()).hexdigest(),
            "bit_exact_with_tflite_micro": report["fidelity"]["vs_host"]["max_abs"] == 0,
        }
    out["emu-b-l475e-iot01a"]["uart_receive"] = receive_rate(tmp / f"{name}-b-l475e-iot01a", "emu-b-l475e-iot01a")
    if name == "kws_dscnn":
        out["emu-cortex-m4"]["qemu_7_2_recorded"] = QEMU72_KWS
    l475 = out["emu-b-l475e-iot01a"]["instructions_per_inference"]
    nucleo = load_profile("nucleo-l4r5zi")
    cpi = nucleo.performance.cycles_per_instruction
    same_code = out["nucleo-l4r5zi"]["model_c_sha256"] == out["b-l475e-iot01a"]["model_c_sha256"]
    out["nucleo-l4r5zi"]["estimate"] = {
        "latency_ms": round(l475 * cpi / nucleo.hardware.clock_hz * 1e3, 2), "estimated": True,
        "basis": f"{l475:,} instructions counted on emu-b-l475e-iot01a (same model.c: {same_code}, same "
                 f"-mcpu=cortex-m4 DSP kernels) x {cpi} cycles/instruction / {nucleo.hardware.clock_hz / 1e6:g} MHz",
        "cpi_source": nucleo.performance.source}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=None, help="write here instead of bench/results/mcu_boards.json")
    args = ap.parse_args()
    qemu = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    figures: dict[str, Any] = {
        "qemu": qemu,
        "qemu_note": "instructions counted by QEMU -icount shift=0 (1 instruction = 1 ns of virtual time, read "
                     "through SysTick: 12.5-instruction resolution at the L475's 80 MHz, 40 on mps2's 25 MHz); "
                     "not cycles",
        "models": {}}
    with tempfile.TemporaryDirectory(prefix="bench-mcu-boards-") as tmp:
        for name in ("digits", "kws_dscnn"):
            figures["models"][name] = run_model(name, Path(tmp), args.runs)
            print(name, json.dumps(figures["models"][name]["emu-b-l475e-iot01a"]), flush=True)
        art = Path(tmp) / "digits-microbit"
        _cli("compile", "examples/digits_cnn.py:build", "--target", "microbit", "--quantize", "int8",
             "--calibration", Path(tmp) / "digits" / "digits_train.npz", "-o", art)
        report = json.loads(_cli("bench", art, "--target", "emu-microbit", "--runs", args.runs, "--json").stdout)
        figures["digits_on_emu_microbit"] = {
            "instructions_per_inference": report["counters"]["instructions_per_inference"],
            "kernels": "reference (Cortex-M0: no DSP extension)",
            "bit_exact_with_tflite_micro": report["fidelity"]["vs_host"]["max_abs"] == 0,
            "uart_receive": receive_rate(art, "emu-microbit")}
    kws = figures["models"]["kws_dscnn"]["nucleo-l4r5zi"]["estimate"]["latency_ms"]
    figures["kws_on_nucleo_l4r5zi_ms"] = {"edgekit (estimated)": kws, **{f"{k} (published, measured)": v
                                                                       for k, v in PUBLISHED_KWS_MS.items()}}
    figures["published_source"] = "MLPerf Tiny v1.1 results, closed division, NUCLEO-L4R5ZI (stack-notes)"
    path = write_result("mcu_boards", figures, Path(args.out) if args.out else None)
    print(json.dumps(figures["kws_on_nucleo_l4r5zi_ms"]), "->", path)


if __name__ == "__main__":
    main()
