"""MCU path benchmark (QEMU, -icount shift=0): what the C firmware costs next to TFLite Micro and the weights.

- arena: our planned arena vs TFLite Micro's arena for the same .tflite (and our lower bound), digits CNN and an
  op-by-op INT8 model (ADD, pools, MEAN, SOFTMAX; tests/export/mcu/tflite_builder.py);
- flash: the firmware image (agent + kernels + model) vs the model's int8 weight bytes;
- instructions per inference for the digits model with the reference and the DSP kernels, accuracy on device;
- instructions per multiply-accumulate of the conv and fully connected kernels, reference and DSP, on the
  emulated Cortex-M4, M7 and M55 (firmware/tests/ek_kernel_test.c).
Targets (issue 4): arena <= 0.7x TFLite Micro's; flash <= weights + 32 KB; DSP conv and FC <= 1.5 instr/MAC (M4).
QEMU counts instructions, not cycles.

    .venv/bin/python bench/bench_mcu.py [--epochs 30] [--runs 20]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from common import write_result  # noqa: E402

from edgekit.artifact import write_artifact  # noqa: E402
from edgekit.export.tflite import export_tflite  # noqa: E402
from kernel_tool import run_kernel_test  # noqa: E402
from edgekit.export.mcu.package import package_tflite  # noqa: E402
from edgekit.export.mcu.tflm import float_runner  # noqa: E402
from edgekit.measure.runner import benchmark  # noqa: E402
from edgekit.modelio import Dataset  # noqa: E402
from edgekit.models.digits import trained_digits_cnn  # noqa: E402
from edgekit.profiles import load_profile  # noqa: E402

TARGET = "emu-cortex-m4"


def memory_figures(fw: dict) -> dict:
    return {"arena_bytes": fw["arena_bytes"], "arena_lower_bound_bytes": fw["arena_lower_bound_bytes"],
            "tflite_micro_arena_bytes": fw["tflite_micro_arena_bytes"],
            "arena_vs_tflite_micro": round(fw["arena_bytes"] / fw["tflite_micro_arena_bytes"], 3),
            "flash_bytes": fw["flash_bytes"], "weight_bytes": fw["weight_bytes"], "const_bytes": fw["const_bytes"],
            "flash_minus_weights_bytes": fw["flash_bytes"] - fw["weight_bytes"], "ram_bytes": fw["ram_bytes"],
            "macs": fw["macs"], "ops": fw["ops"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    profile = load_profile(TARGET)
    model, split = trained_digits_cnn(epochs=args.epochs)
    example = (torch.from_numpy(split.x_test[:1]),)
    figures: dict = {"target": TARGET, "qemu_note": "instruction counts from QEMU -icount shift=0 (1 instruction = "
                     "1 ns virtual time, read via SysTick at 25 MHz: 40-instruction resolution); not cycles"}
    with tempfile.TemporaryDirectory(prefix="bench-mcu-") as tmp:
        tmp = Path(tmp)
        tflite = tmp / "digits.tflite"
        export_tflite(model, example, tflite, int8=True, calibration=split.x_train[:256])
        digits = {}
        for variant, dsp in (("reference", False), ("dsp", True)):
            pkg = package_tflite(tflite, profile, tmp / variant, dsp=dsp)
            ref_in = split.x_test[:8]
            np.savez(tmp / f"ref-{variant}.npz", inputs=ref_in,
                     outputs=float_runner(tflite, pkg.input_quant, pkg.output_quant)(ref_in))
            art = write_artifact(tmp / f"art-{variant}", {**pkg.files, "reference.npz": tmp / f"ref-{variant}.npz"},
                                 {"format": "c-firmware", "model_file": "firmware.bin", "target": {"name": TARGET},
                                  "recipe": [{"method": "int8"}],
                                  "inputs": [{"name": "x", "shape": [1, 1, 8, 8]}],
                                  "outputs": [{"name": "y", "shape": [1, 10]}],
                                  "model": {"macs": pkg.firmware["macs"], "compute_dtype": "int8"},
                                  "export": {"firmware": pkg.firmware}})
            report = benchmark(art, TARGET, runs=args.runs, warmup=2, eval_data=Dataset(split.x_test, split.y_test))
            digits[variant] = {**memory_figures(pkg.firmware),
                               "instructions_per_inference": report["counters"]["instructions_per_inference"],
                               "instructions_per_mac": round(report["counters"]["instructions_per_inference"]
                                                             / pkg.firmware["macs"], 3),
                               "qemu_virtual_latency_ms": report["latency_ms"]["p50"],
                               "device_latency_estimated_ms": report["device_estimate"]["latency_ms"],
                               "device_estimate_basis": report["device_estimate"]["basis"],
                               "energy_estimated_mj": report["energy"]["per_inference_mj"],
                               "stack_peak_bytes": report["memory"]["stack_peak_bytes"],
                               "accuracy_on_device": report["accuracy"]["top1"],
                               "fidelity_vs_tflite_micro_max_abs": report["fidelity"]["vs_host"]["max_abs"]}
        figures["digits_cnn"] = digits

        sys.path.insert(0, str(ROOT))
        from tests.export.mcu.tflite_builder import ops_model
        ops = package_tflite(ops_model(tmp / "ops.tflite"), profile, tmp / "ops", dsp=True)
        figures["ops_model"] = memory_figures(ops.firmware)

    kernels = {}
    for target in ("emu-cortex-m4", "emu-cortex-m7", "emu-cortex-m55"):
        result = run_kernel_test(target, cases=300)
        kernels[target] = {"mcpu": result["mcpu"], "machine": result["machine"],
                           "dsp_vs_reference_mismatches": result["conv_mismatches"] + result["fc_mismatches"],
                           "random_cases": 2 * result["cases"],
                           "kernels": [{k: b[k] for k in ("kernel", "variant", "macs", "instructions")} |
                                       {"instructions_per_mac": round(b["instructions_per_mac"], 3)}
                                       for b in result["bench"]]}
    figures["kernels"] = kernels

    m4 = {(k["kernel"], k["variant"]): k["instructions_per_mac"] for k in kernels["emu-cortex-m4"]["kernels"]}
    dsp = digits["dsp"]
    figures["targets"] = {
        "arena_le_0.7x_tflite_micro": {"digits": dsp["arena_vs_tflite_micro"],
                                       "ops_model": figures["ops_model"]["arena_vs_tflite_micro"],
                                       "met": max(dsp["arena_vs_tflite_micro"],
                                                  figures["ops_model"]["arena_vs_tflite_micro"]) <= 0.7},
        "flash_le_weights_plus_32KiB": {"digits_overhead_bytes": dsp["flash_minus_weights_bytes"],
                                        "met": dsp["flash_minus_weights_bytes"] <= 32 * 1024},
        "dsp_conv_le_1.5_instr_per_mac_m4": {"conv2d 3x3 16->32 16x16": m4[("conv2d 3x3 16->32 16x16", "dsp")],
                                             "conv2d 1x1 64->64 8x8": m4[("conv2d 1x1 64->64 8x8", "dsp")],
                                             "met_3x3": m4[("conv2d 3x3 16->32 16x16", "dsp")] <= 1.5,
                                             "met_1x1": m4[("conv2d 1x1 64->64 8x8", "dsp")] <= 1.5},
        "dsp_fc_le_1.5_instr_per_mac_m4": {"fully_connected 1024->256": m4[("fully_connected 1024->256", "dsp")],
                                           "met": m4[("fully_connected 1024->256", "dsp")] <= 1.5},
        "cmsis_nn_reference_points": "stack-notes: CMSIS-NN on the same QEMU conv 3x3 16->32 2.14, FC 1024->256 "
                                     "1.92, pointwise 64->64 2.09 instructions/MAC",
    }
    path = write_result("mcu", figures)
    print(f"wrote {path}")
    for k, v in figures["targets"].items():
        print(k, v)


if __name__ == "__main__":
    main()
