"""Reading and rewriting .tflite flatbuffers through the schema's generated object API: no converter, no
interpreter. Shared by the .tflite exporter (operator census, float boundary) and the MCU graph reader."""
from __future__ import annotations

from collections import Counter
from typing import Any


def schema() -> Any:
    """The generated flatbuffer classes of the .tflite schema (shipped with ai-edge-litert, and with tflite-micro)."""
    try:
        from ai_edge_litert import schema_py_generated as generated
    except ImportError:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as generated
    return generated


def _builtin_names() -> dict[int, str]:
    ops = schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if k.isupper() and isinstance(v, int)}


def read_operators(model_bytes: bytes) -> dict[str, int]:
    """Operator name -> count over all subgraphs of a .tflite (custom ops as 'CUSTOM:<code>')."""
    S = schema()
    model = S.ModelT.InitFromPackedBuf(model_bytes, 0)
    names = _builtin_names()
    codes = []
    for code in model.operatorCodes or []:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == S.BuiltinOperator.CUSTOM:
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            codes.append(f"CUSTOM:{custom}")
        else:
            codes.append(names.get(builtin, f"BUILTIN_{builtin}"))
    counts: Counter[str] = Counter()
    for subgraph in model.subgraphs or []:
        for op in subgraph.operators or []:
            counts[codes[op.opcodeIndex]] += 1
    return dict(sorted(counts.items()))


def float_boundary(model_bytes: bytes) -> bytes:
    """Rewrite an int8-in/int8-out model so it takes and returns float32 (QUANTIZE in, DEQUANTIZE out)."""
    import flatbuffers
    S = schema()
    model = S.ModelT.InitFromPackedBuf(model_bytes, 0)
    int8 = S.TensorType.INT8

    def opcode(builtin: int, version: int) -> int:
        for i, code in enumerate(model.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                code.version = max(code.version, version)
                return i
        code = S.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
        model.operatorCodes.append(code)
        return len(model.operatorCodes) - 1

    def float_twin(sub, index: int, suffix: str) -> int:
        src = sub.tensors[index]
        twin = S.TensorT()
        twin.shape, twin.shapeSignature = src.shape, src.shapeSignature
        twin.type, twin.buffer = S.TensorType.FLOAT32, 0  # buffer 0: the empty sentinel (not a constant)
        name = src.name.decode() if isinstance(src.name, bytes) else (src.name or f"t{index}")
        twin.name = f"{name}_{suffix}"
        sub.tensors.append(twin)
        return len(sub.tensors) - 1

    def op(index: int, inputs: list[int], outputs: list[int], options_type: int, options: Any):
        o = S.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = index, inputs, outputs
        o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    quantize = opcode(S.BuiltinOperator.QUANTIZE, 1)
    dequantize = opcode(S.BuiltinOperator.DEQUANTIZE, 2)  # version 2: int8 input
    remap: dict[tuple[int, int], int] = {}
    for s, sub in enumerate(model.subgraphs):
        new_inputs, new_outputs = [], []
        for i in sub.inputs:
            if sub.tensors[i].type != int8:
                new_inputs.append(i)
                continue
            f = float_twin(sub, i, "float")
            sub.operators.insert(0, op(quantize, [f], [i], S.BuiltinOptions.QuantizeOptions,
                                       S.QuantizeOptionsT()))
            remap[(s, i)] = f
            new_inputs.append(f)
        for o in sub.outputs:
            if sub.tensors[o].type != int8:
                new_outputs.append(o)
                continue
            f = float_twin(sub, o, "float")
            sub.operators.append(op(dequantize, [o], [f], S.BuiltinOptions.DequantizeOptions,
                                    S.DequantizeOptionsT()))
            remap[(s, o)] = f
            new_outputs.append(f)
        sub.inputs, sub.outputs = new_inputs, new_outputs
    for signature in model.signatureDefs or []:
        for entry in (signature.inputs or []) + (signature.outputs or []):
            entry.tensorIndex = remap.get((signature.subgraphIndex, entry.tensorIndex), entry.tensorIndex)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
