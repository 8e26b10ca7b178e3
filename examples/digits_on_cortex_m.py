"""Digits on a microcontroller in one command: train the digits CNN, quantize it to INT8, compile it to C firmware
for a Cortex-M, run that firmware in QEMU, and report the accuracy the device itself computed.

    .venv/bin/python examples/digits_on_cortex_m.py [--target emu-cortex-m4|emu-cortex-m7|emu-cortex-m55] [-o DIR]

Needs qemu-system-arm and arm-none-eabi-gcc (make system-deps). Latency is QEMU virtual time (1 ns per
instruction); the report adds the estimated latency on the board the target stands for.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import torch
from rich.console import Console

import edgekit
from edgekit.models.digits import trained_digits_cnn
from edgekit.report_view import single_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="emu-cortex-m4")
    parser.add_argument("-o", "--output", help="keep the firmware artifact here (default: a temporary folder)")
    args = parser.parse_args()
    model, split = trained_digits_cnn()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.output) if args.output else Path(tmp) / "digits-mcu"
        artifact = edgekit.compile_model(model, (torch.from_numpy(split.x_test[:1]),), args.target, out,
                                         recipe=[edgekit.Int8StaticConfig()],
                                         calibration=edgekit.Dataset(split.x_train, split.y_train))
        report = edgekit.benchmark(artifact, args.target, runs=20,
                                   eval_data=edgekit.Dataset(split.x_test, split.y_test))
    Console().print(single_table(report))
    accuracy = report["accuracy"]["top1"]
    print(f"{args.target}: accuracy on the device {accuracy * 100:.2f}% of {report['accuracy']['samples']} digits, "
          f"{report['counters']['instructions_per_inference']:,} instructions per inference")
    return 0 if accuracy > 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
