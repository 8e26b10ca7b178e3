"""Read an INT8 .tflite into a small graph (tensors with quantization and constant data, ops with options),
through the schema's flatbuffer object API (tflite_flatbuffer.py): no converter, no interpreter."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, UnsupportedError
from ..tflite_flatbuffer import schema as flatbuffer_schema


_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}
_DTYPE_NAMES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray            # float32, empty when not quantized
    zero_point: np.ndarray       # int64
    quantized_dimension: int
    data: np.ndarray | None      # constant data, None for activations

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(_np_dtype(self.dtype)).itemsize

    @property
    def is_constant(self) -> bool:
        return self.data is not None


@dataclass
class Op:
    index: int
    kind: str                    # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]            # tensor indices, -1 for an absent optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]


def _np_dtype(name: str) -> Any:
    return {v: _DTYPES[k] for k, v in _DTYPE_NAMES.items()}[name]


def load_graph(path: str | Path) -> Graph:
    """Parse a .tflite file (subgraph 0)."""
    schema = flatbuffer_schema()
    buf = Path(path).read_bytes()
    try:
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
    except Exception as exc:  # the generated reader raises whatever the bytes provoke
        raise InputError(f"{path} is not a .tflite flatbuffer ({type(exc).__name__})") from None
    if not model.subgraphs:
        raise InputError(f"{path} has no subgraph")
    if len(model.subgraphs) > 1:
        raise UnsupportedError(f"{path} has {len(model.subgraphs)} subgraphs; the MCU compiler handles one")
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    sg = model.subgraphs[0]
    tensors = []
    for i, t in enumerate(sg.tensors):
        if t.type not in _DTYPE_NAMES:
            raise UnsupportedError(f"tensor {i} ({_name(t)}) has a type (code {t.type}) the MCU compiler does not handle")
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
        zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
        data = None
        b = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        if b is not None:
            raw = None
            if b.data is not None and len(b.data):
                raw = np.asarray(b.data, dtype=np.uint8).tobytes()
            elif getattr(b, "offset", 0) and b.size:  # large models keep buffers after the flatbuffer
                raw = buf[b.offset:b.offset + b.size]
            if raw is not None:
                data = np.frombuffer(raw, dtype=_DTYPES[t.type]).copy()
        shape = tuple(int(s) for s in (t.shape if t.shape is not None else []))
        if data is not None:
            data = data.reshape(shape) if shape else data
        tensors.append(Tensor(i, _name(t), shape, _DTYPE_NAMES[t.type], scale, zp,
                              int(q.quantizedDimension) if q is not None else 0, data))
    ops = []
    for i, op in enumerate(sg.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), f"op{code.builtinCode}")
        if kind == "CUSTOM":
            kind = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
        opts = {k: v for k, v in vars(op.builtinOptions).items()} if op.builtinOptions is not None else {}
        ops.append(Op(i, kind, [int(x) for x in op.inputs], [int(x) for x in op.outputs], opts))
    return Graph(tensors, ops, [int(x) for x in sg.inputs], [int(x) for x in sg.outputs])


def _name(t: Any) -> str:
    return t.name.decode(errors="replace") if isinstance(t.name, bytes) else str(t.name)
