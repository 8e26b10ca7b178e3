"""TensorFlow Lite Micro's Python interpreter (pinned tflite-micro): the reference the firmware must equal byte for
byte, and the arena size TFLite Micro needs for the same .tflite."""
from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import InputError, UnsupportedError


ARENA_BYTES = 16 << 20  # what the host interpreter may use; print_allocations reports what it does use


def interpreter(path: str | Path):
    """TFLite Micro's interpreter for `path`. Its default arena (10 x the file size) is too small for a model
    whose activations outweigh its weights (a PAD of a 32x32x16 image, a 96x96 input), so give it room."""
    from tflite_micro.python.tflite_micro import runtime
    return runtime.Interpreter.from_file(str(path), arena_size=max(ARENA_BYTES, 10 * Path(path).stat().st_size))


def io_counts(path: str | Path) -> tuple[int, int]:
    """(inputs, outputs) of the .tflite's first subgraph (the runtime does not say how many)."""
    from ..tflite_flatbuffer import schema
    sg = schema().Model.GetRootAs(Path(path).read_bytes(), 0).Subgraphs(0)
    return sg.InputsLength(), sg.OutputsLength()


def run_int8(path: str | Path, samples: np.ndarray) -> np.ndarray:
    """int8 samples (N, *input shape[1:]) -> int8 outputs, one invoke per sample (a one-input, one-output model)."""
    return run_int8_many(path, [samples])[0]


def run_int8_many(path: str | Path, samples: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One array per model input, in the .tflite's input order, each (N, *shape[1:]) in the input's type (int8, or
    int32 / int16 ids) -> one int8 array per output, in the .tflite's output order; one invoke per sample."""
    n_in, n_out = io_counts(path)
    if len(samples) != n_in:
        raise UnsupportedError(f"{Path(path).name} takes {n_in} inputs, {len(samples)} given")
    interp = interpreter(path)
    shapes = [interp.get_input_details(i)["shape"] for i in range(n_in)]
    dtypes = [interp.get_input_details(i)["dtype"] for i in range(n_in)]
    n, batch = len(samples[0]), int(shapes[0][0])
    outs: list[list[np.ndarray]] = []
    for i in range(0, n, batch):
        for k, (x, shape, dtype) in enumerate(zip(samples, shapes, dtypes)):
            interp.set_input(np.ascontiguousarray(x[i:i + batch], dtype=dtype).reshape(shape), k)
        interp.invoke()
        outs.append([np.array(interp.get_output(k), copy=True) for k in range(n_out)])
    if not outs:
        return [np.zeros((0, *interp.get_output_details(k)["shape"][1:]), np.int8) for k in range(n_out)]
    return [np.concatenate([o[k] for o in outs]) for k in range(n_out)]


def to_firmware_input(x: Any, spec: dict[str, Any]) -> np.ndarray:
    """A model input as the firmware takes it: float quantized to int8 with the spec's scale and zero point, or an
    integer input (token ids; scale None) in the .tflite's integer type, refused when a value does not fit it or
    is not a whole number."""
    from ..quant_arith import quantize
    x = np.asarray(x)
    if spec.get("scale") is None:
        dtype = np.dtype(spec.get("dtype", "int32"))
        info = np.iinfo(dtype)
        if x.size and (x.dtype.kind not in "biuf" or not np.all(np.isfinite(x)) or np.any(x != np.round(x))
                       or x.min() < info.min or x.max() > info.max):
            raise InputError(f"input '{spec.get('name', 'input')}' takes whole numbers in {dtype} "
                             f"[{info.min}, {info.max}]")
        return x.astype(dtype)
    return quantize(np.asarray(x, dtype=np.float32), "int8", spec)


def float_runner(path: str | Path, inputs: dict | Sequence[dict], outputs: dict | Sequence[dict]
                 ) -> Callable[[Any], Any]:
    """Float samples in, dequantized float outputs out, through TFLite Micro (the artifact's host reference).

    `inputs` / `outputs`: the quantization (scale, zero_point) of each int8 input and output in the .tflite's order
    (an integer input, scale None, is passed as it is, in its dtype),
    as ModelPlan.inputs / outputs (whose signature_index places each among the PyTorch model's arguments and
    outputs), or one dict for a one-input, one-output model. The runner takes one array, or a list of one array
    per model input in the PyTorch model's order (the exporters' multi-input convention), and then returns a list
    of one array per output in that order."""
    from ..quant_arith import dequantize
    ins = [inputs] if isinstance(inputs, dict) else list(inputs)
    outs = [outputs] if isinstance(outputs, dict) else list(outputs)

    def run(x: Any) -> Any:
        listed = isinstance(x, (list, tuple))
        xs = list(x) if listed else [x]
        if len(xs) != len(ins):
            raise UnsupportedError(f"the model takes {len(ins)} inputs, {len(xs)} given")
        q = [to_firmware_input(xs[spec.get("signature_index", k)], spec) for k, spec in enumerate(ins)]
        got = run_int8_many(path, q)
        if len(got) != len(outs):
            raise UnsupportedError(f"the .tflite has {len(got)} outputs, {len(outs)} described")
        ordered: list[Any] = [None] * len(outs)
        for k, (y, spec) in enumerate(zip(got, outs)):
            ordered[spec.get("signature_index", k)] = dequantize(y, spec)
        return ordered if listed else ordered[0]
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
