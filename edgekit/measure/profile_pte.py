"""Per-operator rows of a `.pte` profile: the device's ETDump, read on the host with ExecuTorch's devtools (the
Inspector) and mapped through the artifact's ETRecord (`model.etrecord`, written at compile time) to the module of
the user's PyTorch model and the source line that called it.

The agent sends the ETDump whole (`raw["etdump"]`, base64; see ExecuTorchModel.profile / PteRunnerModel.profile in
edgekit/agent/agent.py): it runs on the device without ExecuTorch's devtools. In the ETDump every instruction of
the program is an event: an operator outside the delegate (OPERATOR_CALL, with its debug handle, so its node is
known) or a delegate call (DELEGATE_CALL, whose debug handles are all the nodes it runs). Inside a call, XNNPACK
logs one event per operator of its runtime ("Convolution (NHWC, F32) IGEMM #3"), named but without a debug handle:
they are matched, in order, to the call's nodes by the kind of operator (`_XNN_OPS`), activations it fused into a
convolution being absorbed there. What XNNPACK added itself (a layout Transpose at the edge of the call) and the
call's own time outside its operators are glue.
"""
from __future__ import annotations

import base64
import io
import logging
import re
import statistics
import warnings
from contextlib import redirect_stdout
from typing import TYPE_CHECKING, Any

from .op_profile import RawProfile, known_path, register_mapper

if TYPE_CHECKING:
    from ..artifact import Artifact

ETRECORD = "model.etrecord"  # edgekit/export/executorch_pte.py writes it (the manifest's export.etrecord says so)

# XNNPACK's operator kinds (its name up to " (") -> the edge ops (aten.<op>, "_copy" and leading "_" dropped) a
# node it runs can be. Longest prefix wins ("global average pooling" before "average pooling").
_XNN_OPS: dict[str, tuple[str, ...]] = {
    "convolution": ("convolution",),
    "deconvolution": ("convolution",),
    "fully connected": ("linear", "addmm", "mm", "matmul", "bmm", "convolution"),  # a 1x1 convolution is one
    "batch matrix multiply": ("bmm", "matmul", "mm", "linear", "baddbmm"),
    "max pooling": ("max_pool2d", "max_pool2d_with_indices", "max_pool1d"),
    "argmax pooling": ("max_pool2d_with_indices",),
    "average pooling": ("avg_pool2d", "adaptive_avg_pool2d"),
    "global average pooling": ("mean", "adaptive_avg_pool2d", "avg_pool2d"),
    "global sum pooling": ("sum",),
    "mean": ("mean", "adaptive_avg_pool2d"),
    "sum": ("sum",),
    "add": ("add",),
    "subtract": ("sub", "rsub"),
    "multiply": ("mul",),
    "divide": ("div",),
    "minimum": ("minimum",),
    "maximum": ("maximum",),
    "squared difference": ("sub", "pow"),
    "clamp": ("relu", "hardtanh", "clamp", "relu6"),
    "hardswish": ("hardswish",),
    "sigmoid": ("sigmoid",),
    "tanh": ("tanh",),
    "elu": ("elu",),
    "leaky relu": ("leaky_relu",),
    "gelu": ("gelu",),
    "softmax": ("softmax", "log_softmax"),
    "exp": ("exp",),
    "log": ("log",),
    "square root": ("sqrt",),
    "reciprocal square root": ("rsqrt",),
    "square": ("pow", "mul"),
    "negate": ("neg",),
    "abs": ("abs",),
    "floor": ("floor",),
    "ceiling": ("ceil",),
    "concatenate": ("cat",),
    "copy": ("cat", "clone", "to_copy", "expand", "view"),  # a concatenation runs as one copy per input
    "static reshape": ("view", "reshape", "squeeze", "unsqueeze", "flatten", "unsafe_view"),
    "reshape": ("view", "reshape", "squeeze", "unsqueeze", "flatten", "unsafe_view"),
    "transpose": ("permute", "transpose", "t"),
    "convert": ("quantize_per_tensor", "dequantize_per_tensor", "quantize_per_token", "dequantize_per_token",
                "quantize_per_channel", "choose_qparams", "choose_qparams_per_token_asymmetric", "to_copy"),
    "constant pad": ("constant_pad_nd", "pad"),
    "slice": ("slice",),
    "static slice": ("slice",),
    "even split": ("split_with_sizes", "split"),
    "resize bilinear": ("upsample_bilinear2d", "upsample_nearest2d"),
}
# Kinds XNNPACK also inserts itself (layout changes, conversions at the edge of a call): matched to a node only
# among the next few not yet matched, so one at the start of a call does not take a permute much further on.
_OFTEN_GLUE = {"transpose", "convert", "copy", "static reshape", "reshape"}
_GLUE_WINDOW = 3


@register_mapper("pte")
def pte_rows(artifact: "Artifact", raw: RawProfile) -> list[dict[str, Any]]:
    """One row per operator event of the ETDump's execute() blocks (warm-up runs left out), its median run:
    XNNPACK's operators, the delegate call's time outside them, the operators outside the delegate, and for the
    Python runtime the bindings' time around Method::execute. A row of XNNPACK's names in `fused` the modules it
    ran besides its own (a convolution's batch norm and activation). Sets raw["events"] (the rows without the
    module) and, where a delegate call logged no operators, raw["not_broken_down"]."""
    modules = artifact.manifest.get("model", {}).get("modules") or {}
    record = artifact.path / ((artifact.manifest.get("export") or {}).get("etrecord") or ETRECORD)
    inspector = _inspector(base64.b64decode(raw["etdump"]), str(record) if record.is_file() else None)
    if not record.is_file():
        raw["basis"] = (raw.get("basis") or "") + ("; the artifact has no ETRecord (compiled before edgekit wrote "
                                                   "one): no row names its module, recompile to get them")
    nodes = _nodes_by_handle(inspector)
    skip = int(raw.get("warmup") or 0)

    rows: list[dict[str, Any]] = []
    children: dict[int, list[Any]] = {}
    method_ns = None
    whole_blocks = [b for b in inspector.event_blocks if b.name != "Default"]  # "Default": load-time events
    for block in whole_blocks:
        for event in block.events:
            value = _typical(event, skip)
            if value is None:
                continue
            if event.name == "Method::execute":
                method_ns = value
            elif event.delegate_debug_identifier is not None and event.name != "DELEGATE_CALL":
                children.setdefault(event._instruction_id, []).append((event, value))
        for event in block.events:
            value = _typical(event, skip)
            if value is None:
                continue
            if event.name == "DELEGATE_CALL":
                rows += _delegate_rows(event, value, children.get(event._instruction_id, []), nodes, modules, raw)
            elif event.name == "OPERATOR_CALL":
                node = _first_node(event.debug_handles, nodes)
                op = (event.op_types or [None])[0] or (node and _target(node)) or "operator"
                rows.append(_row(op, event._instruction_id, "ExecuTorch CPU kernel", value, node, modules))

    if raw.get("runtime") == "executorch-python" and method_ns is not None and raw.get("whole"):
        # The agent's clock is around the bindings' execute(); the program's own time is Method::execute.
        outside = raw["whole"] - method_ns
        if outside > 0:
            rows.append(_row("ExecuTorch Python bindings (inputs and outputs around Method::execute)", None,
                             "pybindings", outside, None, modules))
    raw["events"] = [{k: v for k, v in row.items() if k not in ("module", "source", "fused")} for row in rows]
    return rows


def _inspector(etdump: bytes, etrecord: str | None) -> Any:
    """ExecuTorch's Inspector over the ETDump bytes, times in ns; its import and parsing chatter kept quiet."""
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from executorch.devtools import Inspector
        from executorch.devtools.inspector import TimeScale
        level = logging.root.level
        logging.root.setLevel(logging.ERROR)
        try:
            return Inspector(etdump_data=etdump, etrecord=etrecord, source_time_scale=TimeScale.NS,
                             target_time_scale=TimeScale.NS)
        finally:
            logging.root.setLevel(level)


def _nodes_by_handle(inspector: Any) -> dict[int, Any]:
    """The ETRecord's edge program (the graph before delegation), node by debug handle."""
    record = getattr(inspector, "_etrecord", None)
    program = getattr(record, "edge_dialect_program", None) if record is not None else None
    if isinstance(program, dict):
        program = program.get("forward")
    if program is None:
        return {}
    found: dict[int, Any] = {}
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        handle = node.meta.get("debug_handle")
        for h in handle if isinstance(handle, (tuple, list)) else [handle]:
            # Nodes that share a handle (an op and the (de)quantize pair around its output, a batch norm and its
            # getitems) are one: the op that computes stands for them.
            if isinstance(h, int) and (h not in found or (_secondary(found[h]) and not _secondary(node))):
                found[h] = node
    return found


def _secondary(node: Any) -> bool:
    op = _target(node)
    return "quantize" in op or "getitem" in op or not node.meta.get("nn_module_stack")


def _typical(event: Any, skip: int) -> float | None:
    """The event's median over the profiled runs (as the agent's `whole`: robust to a shared machine's slow run)."""
    perf = event.perf_data
    values = list(perf.raw) if perf is not None else []
    values = values[skip:] if len(values) > skip else values
    return statistics.median(values) if values else None


def _handles(handles: Any) -> list[int]:
    """The event's debug handles, each once, in order (the Inspector repeats one per node that shares it)."""
    if handles is None:
        return []
    return [handles] if isinstance(handles, int) else list(dict.fromkeys(h for h in handles if isinstance(h, int)))


def _first_node(handles: Any, nodes: dict[int, Any]) -> Any:
    return next((nodes[h] for h in _handles(handles) if h in nodes), None)


def _target(node: Any) -> str:
    """'aten.convolution.default' for a node of the edge program."""
    name = str(getattr(node.target, "_op", None) or node.target)
    return getattr(node.target, "__name__", name) if "schema" in name else name


def _short_op(op: str) -> str:
    """'aten.view_copy.default' -> 'view'; 'quantized_decomposed.quantize_per_tensor.default' -> its middle part."""
    parts = op.split(".")
    name = parts[1] if len(parts) > 1 else parts[0]
    name = name.lstrip("_")
    return name.removesuffix("_copy") if name != "to_copy" else name


def _xnn_kind(name: str) -> str:
    head = re.split(r" \(| #", name, maxsplit=1)[0].strip().lower()
    return max((k for k in _XNN_OPS if head == k or head.startswith(k + " ")), key=len, default=head)


def _delegate_rows(call: Any, value: float, ops: list[tuple[Any, float]], nodes: dict[int, Any],
                   modules: dict[str, Any], raw: RawProfile) -> list[dict[str, Any]]:
    backend = call.delegate_backend_name or "delegate"
    kernel = "XNNPACK" if backend == "XnnpackBackend" else backend
    handles = _handles(call.debug_handles)
    members = [nodes[h] for h in handles if h in nodes]
    types = [_short_op(t) for t in (call.op_types or [])] if not members else [_short_op(_target(n)) for n in members]
    if not ops:
        note = (f"{backend}'s call at instruction {call._instruction_id} logged no per-operator events (the "
                f"backend's runtime has no event tracer hook here): it stays one row")
        raw["not_broken_down"] = "; ".join(filter(None, [raw.get("not_broken_down"), note]))
        row = _row(f"DELEGATE_CALL ({backend}: {', '.join(types)})", call._instruction_id, kernel, value,
                   _costliest(members, modules), modules)
        return [row]
    rows, cursor, taken = [], 0, [False] * len(types)
    last: dict[str, Any] | None = None  # the row of the last operator matched to a node
    for event, op_value in ops:
        kind = _xnn_kind(event.name)
        wanted = _XNN_OPS.get(kind, (kind.replace(" ", "_"),))
        found = None
        j, seen = cursor, 0
        while j < len(types) and found is None:
            if not taken[j]:
                if types[j] in wanted:
                    found = j
                seen += 1
                if kind in _OFTEN_GLUE and seen >= _GLUE_WINDOW:
                    break
            j += 1
        node = None
        if found is not None:
            if last is not None:  # the nodes passed over since: fused into the last operator (its BN, its ReLU)
                _fuse(last, [members[k] for k in range(cursor, found) if not taken[k]] if members else [], modules)
            taken[found] = True
            cursor = found + 1
            node = members[found] if members else None
        rows.append(_row(event.name, call._instruction_id, kernel, op_value, node, modules))
        if found is not None:
            last = rows[-1]
    if last is not None and members:
        _fuse(last, [members[k] for k in range(cursor, len(members)) if not taken[k]], modules)
    inside = sum(v for _, v in ops)
    if value > inside:
        rows.append(_row(f"DELEGATE_CALL ({backend}: outside its operators)", call._instruction_id, kernel,
                         value - inside, None, modules))
    return rows


def _fuse(row: dict[str, Any], nodes: list[Any], modules: dict[str, Any]) -> None:
    """Name in row["fused"] the modules of `nodes` (other than the row's own) that its operator ran as well."""
    fused = row.setdefault("fused", [])
    for node in nodes:
        module = _module(node, modules)
        if module and module != row["module"] and module not in fused:
            fused.append(module)
    if not fused:
        del row["fused"]


def _costliest(members: list[Any], modules: dict[str, Any]) -> Any:
    """Of a delegate's nodes, the one whose module has the most MACs (a call that stays one row names it)."""
    named = [n for n in members if _module(n, modules)]
    return max(named, key=lambda n: modules.get(_module(n, modules), {}).get("macs") or 0, default=None)


def _module(node: Any, modules: dict[str, Any]) -> str | None:
    """The module path of the user's model that made `node` (its nn_module_stack's innermost entry), "" for one
    the model's own forward() runs, or None where there is no node (what XNNPACK added itself)."""
    if node is None:
        return None
    stack = node.meta.get("nn_module_stack")
    return known_path(str(list(stack.values())[-1][0]).removeprefix("L__self___"), modules) if stack else ""


def _source(node: Any) -> str | None:
    from ..module_map import _FRAME, _user_frame
    trace = node.meta.get("stack_trace") if node is not None else None
    if not trace:
        return None
    return _user_frame([(m["file"], int(m["line"])) for m in _FRAME.finditer(trace)])


def _row(name: str, index: int | None, kernel: str, value: float, node: Any,
         modules: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "index": index, "kernel": kernel, "value": value, "calls": 1,
            "module": _module(node, modules), "source": _source(node)}
