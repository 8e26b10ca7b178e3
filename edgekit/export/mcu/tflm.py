"""TensorFlow Lite Micro's Python interpreter (pinned tflite-micro): the reference the firmware must equal byte for
byte, and the arena size TFLite Micro needs for the same .tflite."""
from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...errors import UnsupportedError


ARENA_BYTES = 16 << 20  # what the host interpreter may use; print_allocations reports what it does use


def interpreter(path: str | Path):
    """TFLite Micro's interpreter for `path`. Its default arena (10 x the file size) is too small for a model
    whose activations outweigh its weights (a PAD of a 32x32x16 image, a 96x96 input), so give it room."""
    from tflite_micro.python.tflite_micro import runtime
    return runtime.Interpreter.from_file(str(path), arena_size=max(ARENA_BYTES, 10 * Path(path).stat().st_size))


def run_int8(path: str | Path, samples: np.ndarray) -> np.ndarray:
    """int8 samples (N, *input shape[1:]) -> int8 outputs, one invoke per sample."""
    interp = interpreter(path)
    shape = interp.get_input_details(0)["shape"]
    outs = []
    for i in range(0, len(samples), int(shape[0])):
        interp.set_input(np.ascontiguousarray(samples[i:i + int(shape[0])], dtype=np.int8).reshape(shape), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0), copy=True))
    return np.concatenate(outs)


def float_runner(path: str | Path, in_q: dict, out_q: dict) -> Callable[[Any], Any]:
    """Float samples in, dequantized float outputs out, through TFLite Micro (the artifact's host reference).
    Takes one array, or a list of one array per model input (the exporters' multi-input convention) and then
    returns a list of one array per output; the MCU path has one input and one output."""
    from ..quant_arith import dequantize, quantize

    def run_one(x: np.ndarray) -> np.ndarray:
        return dequantize(run_int8(path, quantize(np.asarray(x), "int8", in_q)), out_q)

    def run(x: Any) -> Any:
        if isinstance(x, (list, tuple)):
            if len(x) != 1:
                raise UnsupportedError(f"the MCU path runs models with one input, not {len(x)}")
            return [run_one(x[0])]
        return run_one(x)
    return run


def arena_bytes(path: str | Path) -> int:
    """TFLite Micro's arena total for the model (from print_allocations, which writes to the C-level stderr)."""
    interp = interpreter(path)
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    if not m:
        raise RuntimeError(f"tflite-micro printed no arena total: {text[:200]!r}")
    return int(m.group(1))
