"""The C for one model, in two steps:

plan_model: the .tflite read, rewritten (passes.py) and lowered (lower.py) to kernel calls, and one arena planned
(planner.py): a ModelPlan, the calls in order with their parameters, constant arrays and placed operands. No C.
emit_c: a ModelPlan as model.c: constant weights (flash), the arena, and ek_model_prepare/ek_model_eval calling
the firmware kernels in order (the interface in firmware/include/ek_model.h), each parameter struct written from
its description in kernels.py.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UnsupportedError
from ..tflite_flatbuffer import schema as flatbuffer_schema
from . import kernels
from .graph import Graph, load_graph
from .lower import ALIAS_OPS, KernelCall, lower_op
from .passes import optimize
from .planner import Buffer, Plan, plan_arena


@dataclass
class Step:
    """One kernel call with its operands placed in the arena."""

    call: KernelCall
    inputs: list[int | str]      # per input: its arena offset, or the name of a constant array of the call
    output: int                  # arena offset of the output
    scratch: int | None          # arena offset of the call's scratch; None when it needs none


@dataclass
class ModelPlan:
    """Everything model.c is made of, before any C."""

    tflite_name: str
    tflite_sha256: str
    variant: str                 # the kernel variant planned for (kernels.VARIANTS: weight order, scratch sizes)
    steps: list[Step]
    arena: Plan
    # per input / output, in the .tflite's subgraph order (ek_model_info's inputs / outputs): name, shape, dtype,
    # bytes, offset (in the arena), scale, zero_point, and signature_index: its place among the PyTorch model's
    # arguments / outputs (from the .tflite's signature; the subgraph's order need not follow it)
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    ops: dict[str, int] = field(default_factory=dict)  # the .tflite's ops by kind, before rewriting
    folded_pads: int = 0         # PAD ops folded into the following convolution (no kernel call)
    removed_transposes: int = 0  # TRANSPOSE ops that cancelled after moving below PAD / table ops
    # per .tflite op index, the op as the .tflite has it: its kind, its first output's name (litert-torch names it
    # after the PyTorch module stack; the graph passes may give a moved op a new output tensor) and its constant
    # inputs' names (the model's last op has its output named after the signature, its weights keep the module's)
    source_ops: dict[int, tuple[str, str, list[str]]] = field(default_factory=dict)

    @property
    def calls(self) -> list[KernelCall]:
        return [s.call for s in self.steps]

    @property
    def model_id(self) -> int:
        """The first 4 bytes of the .tflite's sha256, big endian (ek_model_info.model_id)."""
        return int(self.tflite_sha256[:8], 16)

    @property
    def weight_bytes(self) -> int:
        """int8 weights only."""
        return sum(a.values.size for c in self.calls for a in c.arrays if a.name.endswith("_weights"))

    @property
    def const_bytes(self) -> int:
        """Every constant array (weights, bias, multipliers, shifts, tables)."""
        return sum(a.values.size * (1 if a.ctype == "int8_t" else 4) for c in self.calls for a in c.arrays)

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.calls)

    def kernel_calls(self) -> list[dict[str, Any]]:
        """The kernel calls of one inference in order, as the profile table (ek_model_profile) holds them: the
        .tflite op each runs (kind, index, output tensor name) and the C function that runs it."""
        rows = []
        for k, step in enumerate(self.steps):
            op = step.call.op
            kind, tensor, constants = self.source_ops.get(op.index, (op.kind, "", []))
            rows.append({"call": k, "index": op.index, "op": kind, "kernel": step.call.kernel.eval,
                         "tensor": tensor, "constants": constants, "macs": step.call.macs})
        return rows

    def info(self) -> dict[str, Any]:
        """Facts for the artifact manifest."""
        return {"kernel_calls": len(self.steps),
                "arena_bytes": self.arena.arena_bytes, "arena_lower_bound_bytes": self.arena.lower_bound,
                "weight_bytes": self.weight_bytes, "const_bytes": self.const_bytes, "macs": self.macs,
                "ops": self.ops, "folded_pads": self.folded_pads,
                "removed_transposes": self.removed_transposes, "inputs": self.inputs, "outputs": self.outputs,
                "input_bytes": sum(t["bytes"] for t in self.inputs),
                "output_bytes": sum(t["bytes"] for t in self.outputs), "model_id": f"{self.model_id:08x}"}


@dataclass
class GeneratedModel:
    plan: ModelPlan
    source: str                  # model.c

    def info(self) -> dict[str, Any]:
        return self.plan.info()


def _resolve_aliases(graph: Graph) -> dict[int, int]:
    """Tensor -> the tensor whose memory it shares (reshape-like ops move no bytes)."""
    root: dict[int, int] = {}
    for op in graph.ops:
        if op.kind in ALIAS_OPS:
            src = op.inputs[0]
            root[op.outputs[0]] = root.get(src, src)
    return root


MAX_IO_TENSORS = 0xFFFF  # INFO carries each count as a u16


INTEGER_INPUTS = ("int32", "int16")  # taken as they are (token ids); no scale


def _io_spec(graph: Graph, index: int, offset: int, signature_index: int) -> dict[str, Any]:
    t = graph.tensor(index)
    is_input = index in graph.inputs
    if is_input and t.dtype in INTEGER_INPUTS and not len(t.scale):
        return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "bytes": t.nbytes, "offset": offset,
                "scale": None, "zero_point": None, "signature_index": signature_index}
    if t.dtype != "int8" or not len(t.scale):
        what = t.dtype if t.dtype != "int8" else "int8 without a scale"
        raise UnsupportedError(f"model {'input' if is_input else 'output'} '{t.name}' is {what}; the MCU path needs "
                               "int8 inputs and outputs, or integer inputs (int32/int16 ids) taken as they are "
                               "(export with int8 I/O)")
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "bytes": t.nbytes, "offset": offset,
            "scale": float(t.scale[0]), "zero_point": int(t.zero_point[0]), "signature_index": signature_index}


def signature_positions(data: bytes, inputs: list[int], outputs: list[int]) -> tuple[list[int], list[int]]:
    """For each subgraph input and output (tensor indices, in the subgraph's order), its place among the model's
    arguments and outputs: from the .tflite's first signature, ordered by the number its keys end in (litert-torch
    names them args_<i> and output_<k>), else in the signature's order; the subgraph's own order where the
    signature does not cover exactly these tensors."""
    model = flatbuffer_schema().Model.GetRootAs(data, 0)

    def order(tensors: list[int], entries: list[tuple[str, int]]) -> list[int]:
        if sorted(i for _, i in entries) != sorted(tensors) or len(set(tensors)) != len(tensors):
            return list(range(len(tensors)))
        numbers = [re.search(r"(\d+)$", key) for key, _ in entries]
        if all(numbers) and len({int(m.group(1)) for m in numbers}) == len(numbers):
            entries = [e for _, e in sorted(zip((int(m.group(1)) for m in numbers), entries))]
        rank = {tensor: k for k, (_, tensor) in enumerate(entries)}
        return [rank[t] for t in tensors]

    def entries(sig: Any, kind: str) -> list[tuple[str, int]]:
        n = getattr(sig, f"{kind}Length")()
        return [(getattr(sig, kind)(j).Name().decode(errors="replace"), getattr(sig, kind)(j).TensorIndex())
                for j in range(n)]

    sig = next((model.SignatureDefs(j) for j in range(model.SignatureDefsLength())
                if model.SignatureDefs(j).SubgraphIndex() == 0), None)
    if sig is None:
        return list(range(len(inputs))), list(range(len(outputs)))
    return order(inputs, entries(sig, "Inputs")), order(outputs, entries(sig, "Outputs"))


def share_constants(calls: list[KernelCall]) -> list[KernelCall]:
    """Each constant array stored once: an array equal (type and values) to one of an earlier call is dropped and
    the call points at that one. An unrolled recurrent layer's steps all read the same weights (and often the same
    tables), so its flash does not grow with the number of steps."""
    first: dict[tuple[str, int, bytes], str] = {}
    for call in calls:
        renamed: dict[str, str] = {}
        kept = []
        for arr in call.arrays:
            key = (arr.ctype, arr.values.size, np.ascontiguousarray(arr.values, dtype=np.int64).tobytes())
            if key in first:
                renamed[arr.name] = first[key]
            else:
                first[key] = arr.name
                kept.append(arr)
        if renamed:
            call.arrays = kept
            for f, t in call.kernel.params.fields:
                if t in (kernels.P_I32, kernels.P_I8) and call.params[f] in renamed:
                    call.params[f] = renamed[call.params[f]]
            call.inputs = [renamed.get(i, i) if isinstance(i, str) else i for i in call.inputs]
    return calls


def plan_model(tflite: str | Path, dsp: kernels.Variant) -> ModelPlan:
    """Lower a full-INT8 .tflite to kernel calls for a kernel variant ("reference", "dsp", "mve"; True / False for
    "dsp" / "reference") and plan its arena."""
    variant = kernels.variant_name(dsp)
    data = Path(tflite).read_bytes()
    source_graph = load_graph(tflite)
    for kind, io in (("inputs", source_graph.inputs), ("outputs", source_graph.outputs)):
        if not 1 <= len(io) <= MAX_IO_TENSORS:
            raise UnsupportedError(f"the model has {len(io)} {kind}; the MCU agent handles 1 to {MAX_IO_TENSORS}")
    graph, stats = optimize(source_graph)  # transposes around PADs cancelled, PADs folded into convolutions
    alias = _resolve_aliases(graph)
    calls = share_constants([lower_op(graph, op, variant) for op in graph.ops if op.kind not in ALIAS_OPS])

    # lifetimes per memory root, in steps of the kernel calls (graph inputs alive from step 0, outputs to the end)
    buffers: dict[int, Buffer] = {}

    def touch(tensor: int, step: int) -> None:
        r = alias.get(tensor, tensor)
        t = graph.tensor(r)
        if t.is_constant:
            raise UnsupportedError(f"constant tensor '{t.name}' used as an activation; not supported on the MCU")
        b = buffers.setdefault(r, Buffer(f"t{r}", t.nbytes, step, step))
        b.first, b.last = min(b.first, step), max(b.last, step)

    for i in graph.inputs:
        touch(i, 0)
    for step, call in enumerate(calls):
        for i in call.inputs:
            if isinstance(i, int):  # a str is a constant array of the call, in flash
                touch(i, step)
        touch(call.output, step)
    for o in graph.outputs:
        touch(o, len(calls))
    scratch = [Buffer(f"s{step}", c.scratch_bytes, step, step) for step, c in enumerate(calls) if c.scratch_bytes]
    arena = plan_arena(list(buffers.values()) + scratch)

    def at(tensor: int) -> int:
        return arena.offset(f"t{alias.get(tensor, tensor)}")

    steps = [Step(call, [i if isinstance(i, str) else at(i) for i in call.inputs], at(call.output),
                  arena.offset(f"s{step}") if call.scratch_bytes else None) for step, call in enumerate(calls)]
    ops: dict[str, int] = {}
    for op in source_graph.ops:
        ops[op.kind] = ops.get(op.kind, 0) + 1
    in_pos, out_pos = signature_positions(data, graph.inputs, graph.outputs)
    source_ops = {op.index: (op.kind, source_graph.tensor(op.outputs[0]).name if op.outputs else "",
                             [source_graph.tensor(i).name for i in op.inputs
                              if i >= 0 and source_graph.tensor(i).is_constant])
                  for op in source_graph.ops}
    return ModelPlan(Path(tflite).name, hashlib.sha256(data).hexdigest(), variant, steps, arena,
                     [_io_spec(graph, t, at(t), k) for t, k in zip(graph.inputs, in_pos)],
                     [_io_spec(graph, t, at(t), k) for t, k in zip(graph.outputs, out_pos)], ops, stats.folded_pads,
                     stats.removed_transposes, source_ops)


# ---- C emission --------------------------------------------------------------------------------------------------

def _c_array(values: np.ndarray, per_line: int = 24) -> str:
    items = [str(int(v)) for v in values]
    return ",\n    ".join(", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line))


def _int32(value: Any) -> str:
    v = int(value)
    if not -2**31 <= v < 2**31:
        raise ValueError(f"{v} does not fit an int32_t parameter")
    return str(v)


def c_value(ctype: str, value: Any) -> str:
    """A parameter value as a C initializer for a field of type `ctype` (the types of kernels.py)."""
    if ctype == kernels.I32:
        return _int32(value)
    if ctype == kernels.I32X4:
        if len(value) != 4:
            raise ValueError(f"{value} is not 4 values")
        return "{%s}" % ", ".join(_int32(v) for v in value)
    if ctype in (kernels.P_I32, kernels.P_I8):  # a constant array of the call, by name
        return "NULL" if value is None else str(value)
    struct = kernels.STRUCTS[ctype]
    if isinstance(value, dict):
        struct.check(value)
        return "{%s}" % ", ".join(f".{f} = {c_value(t, value[f])}" for f, t in struct.fields)
    if len(value) != len(struct.fields):
        raise ValueError(f"{value} does not fill {struct.name}")
    return "{%s}" % ", ".join(c_value(t, v) for (_, t), v in zip(struct.fields, value))


def _c_comment(text: str) -> str:
    """`text` safe inside a C comment (a tensor name may hold anything)."""
    return re.sub(r"[^A-Za-z0-9_.:/ -]", "?", text).replace("*/", "*?")


def emit_c(plan: ModelPlan) -> str:
    """model.c for `plan`."""
    variant = {"dsp": "DSP", "mve": "MVE"}.get(plan.variant, plan.variant)
    lines = [f"/* Generated by edgekit from {plan.tflite_name} (sha256 {plan.tflite_sha256[:16]}...)",
             f" * for the {variant} kernels. Arena {plan.arena.arena_bytes} B (lower bound "
             f"{plan.arena.lower_bound} B). Do not edit. */",
             '#include "ek_kernels.h"', '#include "ek_model.h"', "",
             f"#if !defined(EK_KERNELS_VARIANT) || EK_KERNELS_VARIANT != {kernels.variant_id(plan.variant)}",
             f'#error "this model was planned for the {variant} kernels (weight order and scratch sizes differ)"',
             "#endif", "",
             f"int8_t ek_arena[{max(plan.arena.arena_bytes, 8)}] __attribute__((aligned(8)));", ""]
    for kind, specs in (("inputs", plan.inputs), ("outputs", plan.outputs)):
        lines += [f"static const ek_tensor_place ek_model_{kind}[{len(specs)}] = {{",
                  *(f"    {{{t['offset']}u, {t['bytes']}u}},  /* {_c_comment(t['name'])} {t['shape']} */"
                    for t in specs), "};"]
    lines += ["", "const ek_model_info ek_model = {",
              f"    .model_id = 0x{plan.model_id:08x}u, .arena_bytes = {plan.arena.arena_bytes}u,",
              f"    .num_inputs = {len(plan.inputs)}u, .num_outputs = {len(plan.outputs)}u,",
              "    .inputs = ek_model_inputs, .outputs = ek_model_outputs,",
              f"    .input_bytes = {sum(t['bytes'] for t in plan.inputs)}u, "
              f".output_bytes = {sum(t['bytes'] for t in plan.outputs)}u,",
              "};", ""]

    def operand(i: int | str) -> str:
        if isinstance(i, str):  # a constant array; int32 ones (GATHER's indices) pass as bytes
            return f"(const int8_t *){i}" if i in int32_arrays else i
        return f"ek_arena + {i}"

    int32_arrays = {a.name for step in plan.steps for a in step.call.arrays if a.ctype == "int32_t"}
    for step in plan.steps:
        call, k = step.call, step.call.kernel
        lines.append(f"/* op {call.op.index}: {call.op.kind} */")
        for arr in call.arrays:
            lines.append(f"static const {arr.ctype} {arr.name}[{arr.values.size}] __attribute__((aligned(4))) = {{\n"
                         f"    {_c_array(arr.values)}\n}};")
        if k.input_list:
            lines.append(f"static const int8_t *const op{call.op.index}_inputs[{len(step.inputs)}] = "
                         f"{{{', '.join(operand(i) for i in step.inputs)}}};")
        fields = ",\n    ".join(f".{f} = {c_value(t, call.params[f])}" for f, t in k.params.fields)
        lines.append(f"static const {k.params.name} op{call.op.index}_params = {{\n    {fields}\n}};\n")

    declare = ["    ek_status s;"] if plan.steps else []  # a model of reshapes only calls no kernel
    prepare = ["ek_status ek_model_prepare(void) {"] + declare
    calls = []
    for step in plan.steps:
        call, k = step.call, step.call.kernel
        p = f"&op{call.op.index}_params"
        prepare.append(f"    if ((s = {k.prepare}({p}, {call.scratch_bytes}u)) != EK_OK) return s;")
        inputs = [f"op{call.op.index}_inputs"] if k.input_list else [operand(i) for i in step.inputs]
        scratch = "NULL" if step.scratch is None else f"ek_arena + {step.scratch}"
        args = [p, *inputs, f"ek_arena + {step.output}", scratch]
        calls.append(f"    if ((s = {k.eval}({', '.join(args)})) != EK_OK) return s;")
    prepare += ["    return EK_OK;", "}", ""]
    evaluate = ["ek_status ek_model_eval(void) {", *declare, *calls, "    return EK_OK;", "}", ""]
    return "\n".join(lines + prepare + evaluate + _emit_profiled(declare, calls))


def _emit_profiled(declare: list[str], calls: list[str]) -> list[str]:
    """ek_model_calls, ek_model_profile and ek_model_eval_profiled (ek_model.h): the calls of ek_model_eval, each
    followed by mark(k). A second function rather than a flag in ek_model_eval, so that a plain inference runs the
    same instructions whether or not the firmware can profile."""
    body = []
    for k, line in enumerate(calls):
        body += [line, f"    mark({k}u);"]
    return [f"/* Profiling: the clock read after each of the {len(calls)} kernel calls of an inference. */",
            f"const uint32_t ek_model_calls = {len(calls)}u;",
            f"uint32_t ek_model_profile[{max(len(calls), 1)}];", "",
            "ek_status ek_model_eval_profiled(ek_profile_mark_fn mark) {", *declare, "    mark(EK_PROFILE_START);",
            *body, "    return EK_OK;", "}", ""]


def generate(tflite: str | Path, dsp: kernels.Variant) -> GeneratedModel:
    """Compile a full-INT8 .tflite into model.c for a kernel variant (see plan_model)."""
    plan = plan_model(tflite, dsp)
    return GeneratedModel(plan, emit_c(plan))
