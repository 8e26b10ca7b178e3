"""INT8 QAT vs PTQ on the digits CNN, each compiled to .pte and measured on the emulated phone (emu-phone):
accuracy on the device, file size, latency. Writes the 'digits_qat' section of bench/results/compression.json.

    .venv/bin/python bench/bench_qat.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import merge_section  # noqa: E402

import edgekit  # noqa: E402
from edgekit.compress.qat import QatInt8Config  # noqa: E402
from edgekit.models.digits import accuracy, trained_digits_cnn  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--qat-epochs", type=int, default=3)
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args()
    model, split = trained_digits_cnn(epochs=args.epochs)
    example = (torch.from_numpy(split.x_test[:1]),)
    train = edgekit.Dataset(split.x_train, split.y_train)
    test = edgekit.Dataset(split.x_test, split.y_test)
    out = {"float_host_top1": accuracy(model, split.x_test, split.y_test), "runs": args.runs}
    recipes = {"fp32": [], "int8_ptq": [edgekit.Int8StaticConfig()],
               "int8_qat": [QatInt8Config(epochs=args.qat_epochs)]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, recipe in recipes.items():
            t = time.time()
            art = edgekit.compile_model(model, example, "emu-phone", Path(tmp) / name, recipe=recipe,
                                        calibration=train)
            compile_s = time.time() - t
            rep = edgekit.benchmark(art, "emu-phone", runs=args.runs, eval_data=test)
            out[name] = {"compile_s": round(compile_s, 1), "format": art.format, "size_bytes": art.size_bytes,
                         "device_top1": rep["accuracy"]["top1"], "latency_ms_p50": rep["latency_ms"]["p50"],
                         "latency_measured_on": rep["latency_ms"]["measured_on"],
                         "vs_host_cosine": rep["fidelity"]["vs_host"]["cosine"],
                         "delegated_nodes": rep["artifact"]["delegation"]["delegated_nodes"]}
            print(name, out[name], file=sys.stderr, flush=True)
    merge_section("digits_qat", out)


if __name__ == "__main__":
    main()
