#!/usr/bin/env python3
"""edgekit target agent: loads an artifact with the on-device runtime and answers JSON-lines requests.

This file runs on the device. It imports only the standard library, numpy and the runtime the artifact needs
(for .pte the ExecuTorch C++ runner ek_pte_runner where the device has one, else ExecuTorch's Python runtime;
ai_edge_litert, else tflite_runtime, for .tflite), never edgekit, so it can be copied alone onto a phone or a board.
A bench with a power meter (`meter`: an INA219/INA260 on a Linux board's I2C bus) also imports ina_sampler.py, which
the installer puts beside this file, and smbus2.
The protocol is documented in docs/agent-protocol.md.

    python3 agent.py --workspace DIR        # requests on stdin, responses on stdout, one JSON object per line
"""
from __future__ import annotations

import argparse
import base64
import faulthandler
import hashlib
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path

PROTOCOL_VERSION = 2  # 2: any number of named inputs and outputs
AGENT_VERSION = "0.1.0"

# Error codes (the host maps them to exit codes and hints).
E_BAD_REQUEST = "bad_request"
E_OUTSIDE_WORKSPACE = "outside_workspace"
E_HASH_MISMATCH = "hash_mismatch"
E_RUNTIME_MISSING = "runtime_missing"
E_LOAD_FAILED = "load_failed"
E_NOT_LOADED = "not_loaded"
E_SHAPE_MISMATCH = "shape_mismatch"
E_RUN_FAILED = "run_failed"
E_OUT_OF_MEMORY = "out_of_memory"
E_METER_FAILED = "meter_failed"  # the power meter a bench asked for cannot be opened or read
# How running out of memory shows: MemoryError, or a shared library that cannot be mapped under the address-space
# limit (the runtime's own, or numpy's).
_NO_MEMORY = ("failed to map segment", "cannot allocate memory")


def out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or any(s in str(exc).lower() for s in _NO_MEMORY)


class AgentError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# ---- tensors on the wire: {"dtype": "float32", "shape": [...], "b64": raw little-endian bytes} -----------------

def encode_tensor(array) -> dict:
    import numpy as np
    array = np.ascontiguousarray(array)
    return {"dtype": str(array.dtype), "shape": list(array.shape), "b64": base64.b64encode(array.tobytes()).decode()}


def decode_tensor(obj: dict):
    import numpy as np
    try:
        array = np.frombuffer(base64.b64decode(obj["b64"]), dtype=np.dtype(obj["dtype"]))
        return array.reshape(obj["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AgentError(E_BAD_REQUEST, f"malformed tensor: {exc}") from None


# ---- runtimes -------------------------------------------------------------------------------------------------

class ExecuTorchModel:
    """A .pte through ExecuTorch's Python runtime (its bindings exchange torch tensors)."""

    @staticmethod
    def import_runtime():
        try:
            import torch
            from executorch.runtime import Runtime
            try:  # ExecuTorch's quantized kernels (int8 embedding lookups), where the runtime ships them
                import executorch.kernels.quantized  # noqa: F401
            except ImportError:
                pass
        except ImportError as exc:
            if out_of_memory(exc):
                raise AgentError(E_OUT_OF_MEMORY, f"out of memory loading the ExecuTorch runtime: {exc}") from None
            raise AgentError(E_RUNTIME_MISSING, f"ExecuTorch runtime not installed on the device: {exc}") from None
        return torch, Runtime

    def __init__(self, path: Path) -> None:
        self._torch, Runtime = self.import_runtime()
        self._path = path
        try:
            self._method = Runtime.get().load_program(path).load_method("forward")
        except Exception as exc:
            raise AgentError(E_LOAD_FAILED, f"ExecuTorch could not load {path.name}: {exc}") from None

    def describe(self) -> dict:
        return {"name": "executorch", "version": distribution_version("executorch")}

    def prepare(self, arrays: list) -> list:
        return [self._torch.from_numpy(a.copy()) for a in arrays]

    def invoke(self, prepared: list) -> None:
        self._last = self._method.execute(prepared)

    def outputs(self) -> list:
        return [o.numpy() for o in self._last]

    def profile(self, prepared: list, runs: int) -> dict:
        """A RawProfile (edgekit/measure/op_profile.py) whose events the host reads from the ETDump in `etdump`.
        The program is loaded a second time with ExecuTorch's ETDump tracer (the benched one never carries it);
        `whole` is this agent's clock around the bindings' execute(), as a bench times it, so it holds the
        bindings' work on the inputs and outputs too: the ETDump's Method::execute says how much."""
        import tempfile
        from executorch.runtime import Runtime
        try:
            program = Runtime.get().load_program(self._path, enable_etdump=True)
            method = program.load_method("forward")
        except Exception as exc:
            raise AgentError(E_RUN_FAILED, f"ExecuTorch could not load {self._path.name} with its tracer: {exc}") \
                from None
        # One untraced execute() before each traced one: both see the same machine, however its speed drifts.
        clock, traced, plain = time.perf_counter_ns, [], []
        for _ in range(self.PROFILE_WARMUP + runs):
            for execute, times in ((self._method.execute, plain), (method.execute, traced)):
                start = clock()
                execute(prepared)
                times.append(clock() - start)
        with tempfile.TemporaryDirectory(prefix="ek-etdump-") as tmp:
            program.write_etdump_result_to_file(os.path.join(tmp, "etdump.etdp"), os.path.join(tmp, "debug.bin"))
            etdump = Path(tmp, "etdump.etdp").read_bytes()
        return self.raw_profile(etdump, traced, plain, "executorch-python",
                                "ExecuTorch's Python runtime (pybindings), this agent's perf_counter_ns around "
                                "execute(), bindings included")

    # Executions the profiled method runs first and the host leaves out (the ETDump's first blocks): a freshly
    # loaded method's first execute() is a cold one (XNNPACK sets up its runtime).
    PROFILE_WARMUP = 2

    @classmethod
    def raw_profile(cls, etdump: bytes, traced: list, plain: list, runtime: str, clock: str) -> dict:
        """pte_raw_profile, measured on this machine."""
        return pte_raw_profile(etdump, traced, plain, runtime, clock, cls.PROFILE_WARMUP,
                               " ".join(filter(None, (platform.machine(), cpu_model()))) + f" ({socket.gethostname()})")


def pte_raw_profile(etdump: bytes, traced: list, plain: list, runtime: str, clock: str, warmup: int,
                    machine: str) -> dict:
    """The RawProfile of a .pte: the ETDump travels whole (base64) and the host reads the events from it with
    ExecuTorch's devtools (edgekit/measure/profile_pte.py), as this agent has neither them nor flatcc.
    `traced` and `plain`: ns of each execute() with and without the tracer, the `warmup` ones first; `machine`:
    where they ran, in words. Pure: the host builds the same from ek_pte_runner's answer (session/native_runner.py)."""
    traced, plain = traced[warmup:], plain[warmup:]
    return {"unit": "ns", "runs": len(traced), "events": [], "etdump": base64.b64encode(etdump).decode(),
            "warmup": warmup, "runtime": runtime,
            # Medians: a shared machine's odd slow run would swing the figure the operators are held against.
            "whole": sorted(traced)[len(traced) // 2], "whole_unprofiled": sorted(plain)[len(plain) // 2],
            "basis": f"ExecuTorch ETDump (ETDumpGen event tracer; XNNPACK's own per-operator timer inside a "
                     f"delegate call, 1 us resolution) over {len(traced)} runs after {warmup} "
                     f"warm-up, each after an untraced run; whole: {clock}; on {machine}"}


# The .tflite runtimes in the agent's order of preference (module, distribution): LiteRT first, tflite-runtime's
# successor, whose XNNPACK takes a static int8 graph whole; tflite-runtime (its last release, 2.14, hands XNNPACK
# int8 graphs in pieces or not at all) for images that have only it.
TFLITE_RUNTIMES = (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime"))


def distribution_version(name: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class TFLiteModel:
    """A .tflite through LiteRT (ai_edge_litert) or, where an image has only it, tflite_runtime."""

    @staticmethod
    def import_runtime():
        """(Interpreter class, distribution name) of the first runtime in TFLITE_RUNTIMES that imports."""
        import importlib
        failures = []
        for module, dist in TFLITE_RUNTIMES:
            try:
                return importlib.import_module(module).Interpreter, dist
            except ImportError as exc:
                failures.append(exc)
        memory_failure = next((exc for exc in failures if out_of_memory(exc)), None)
        if memory_failure is not None:
            raise AgentError(E_OUT_OF_MEMORY, f"out of memory loading the LiteRT runtime: {memory_failure}")
        raise AgentError(E_RUNTIME_MISSING, "neither ai_edge_litert nor tflite_runtime is installed on the device")

    def __init__(self, path: Path, threads: int = 1) -> None:
        Interpreter, self._runtime = self.import_runtime()
        self._path, self._threads = path, threads
        try:
            self._interp = Interpreter(model_path=str(path), num_threads=threads)
            self._interp.allocate_tensors()
        except Exception as exc:
            raise AgentError(E_LOAD_FAILED, f"TFLite could not load {path.name}: {exc}") from None
        self._inputs = signature_order(self._interp.get_input_details(), "args_")
        self._outputs = signature_order(self._interp.get_output_details(), "output_")

    def describe(self) -> dict:
        """The runtime, its version and how much of the graph the XNNPACK delegate took."""
        return {"name": self._runtime, "version": distribution_version(self._runtime),
                "delegate": delegated_ops(self._interp._get_ops_details())}

    def prepare(self, arrays: list) -> list:
        """Cast to the model's input types; float samples for a quantized (int8) input are quantized with the
        tensor's own (scale, zero_point); integer samples are taken as already quantized."""
        import numpy as np
        prepared = []
        for a, d in zip(arrays, self._inputs):
            scale, zero_point = d["quantization"]
            dtype = np.dtype(d["dtype"])
            if scale and dtype.kind in "iu" and a.dtype.kind == "f":
                info = np.iinfo(dtype)
                a = np.clip(np.round(a / scale) + zero_point, info.min, info.max)
            prepared.append(np.ascontiguousarray(a, dtype=dtype))
        return prepared

    def invoke(self, prepared: list) -> None:
        for array, detail in zip(prepared, self._inputs):
            self._interp.set_tensor(detail["index"], array)
        self._interp.invoke()

    def native_outputs(self) -> list:
        """Outputs in the model's own types (int8 for a full-integer model)."""
        return [self._interp.get_tensor(d["index"]) for d in self._outputs]

    def outputs(self) -> list:
        """Outputs as float32, dequantized with each output's (scale, zero_point) where the model is quantized."""
        import numpy as np
        outs = []
        for y, d in zip(self.native_outputs(), self._outputs):
            scale, zero_point = d["quantization"]
            outs.append(((y.astype(np.float32) - zero_point) * scale).astype(np.float32)
                        if scale and y.dtype.kind in "iu" else y)
        return outs

    # --- Per-operator profile (`profile`, edgekit/measure/op_profile.py: RawProfile) ---------------------------------
    # The Python Interpreter has no profiler. LiteRT's C API (libLiteRt.so, shipped in the ai-edge-litert wheel) has
    # one: a CompiledModel made with the runtime option `enable_profiling` records TFLite's operator events and
    # XNNPACK's own per-operator timings (XNNPACK reports each operator inside its delegate node). It is driven here
    # through ctypes; the profiled runs are LiteRT's CompiledModel on the CPU (XNNPACK, the same threads), not the
    # Interpreter that `bench` times.

    # XNNPACK's operator (the words before " (") -> the .tflite builtins it can come from.
    XNN_OPS = {
        "convolution": ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D"), "deconvolution": ("TRANSPOSE_CONV",),
        "fully connected": ("FULLY_CONNECTED", "CONV_2D", "BATCH_MATMUL"),
        "batch matrix multiply": ("BATCH_MATMUL", "FULLY_CONNECTED"), "dynamic fully connected": ("FULLY_CONNECTED",),
        "subtract": ("SUB",), "multiply": ("MUL",), "divide": ("DIV",), "squared difference": ("SQUARED_DIFFERENCE",),
        "max pooling": ("MAX_POOL_2D",), "average pooling": ("AVERAGE_POOL_2D",),
        "global average pooling": ("MEAN", "AVERAGE_POOL_2D"), "argmax pooling": ("MAX_POOL_2D",),
        "mean": ("MEAN",), "sum": ("SUM",), "max": ("REDUCE_MAX",), "min": ("REDUCE_MIN",),
        "copy": ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"), "static reshape": ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"),
        "constant pad": ("PAD", "PADV2", "MIRROR_PAD"), "clamp": ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1"),
        "convert": ("QUANTIZE", "DEQUANTIZE"), "resize bilinear": ("RESIZE_BILINEAR",),
        "slice": ("SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V"), "concatenate": ("CONCATENATION",),
        "depth to space": ("DEPTH_TO_SPACE",), "space to depth": ("SPACE_TO_DEPTH",),
        "copysign": ("SIGN",), "bankers rounding": ("ROUND",), "sigmoid": ("LOGISTIC",), "elu": ("ELU",),
        "leaky relu": ("LEAKY_RELU",), "hardswish": ("HARD_SWISH",), "square root": ("SQRT",),
        "reciprocal square root": ("RSQRT",), "negate": ("NEG",), "square": ("SQUARE", "MUL"),
    }

    class _ProfiledEvent(__import__("ctypes").Structure):  # litert/c/litert_profiler_event.h: ProfiledEventData
        import ctypes as C
        _fields_ = [("tag", C.c_char_p), ("event_type", C.c_int), ("start_us", C.c_uint64),
                    ("elapsed_us", C.c_uint64), ("begin_mem", C.c_size_t * 3), ("end_mem", C.c_size_t * 3),
                    ("metadata1", C.c_uint64), ("metadata2", C.c_uint64), ("source", C.c_int)]
        del C

    def profile(self, prepared: list, runs: int) -> dict:
        """Operator timings over `runs` inferences of `prepared`, from LiteRT's profiler (a RawProfile). Each run
        goes once through a profiled CompiledModel and once through one without profiling, alternately, so
        `whole` and `whole_unprofiled` are timed on the same clock under the same load."""
        if self._runtime != "ai-edge-litert":
            raise AgentError(E_BAD_REQUEST, f"{self._runtime} {distribution_version(self._runtime)} has no "
                                            "per-operator profiler (install ai-edge-litert on the device)")
        try:
            lite = self._LiteRt(self._path, self._threads)
        except OSError as exc:  # no libLiteRt.so in this wheel, or a C API that refuses the model
            raise AgentError(E_RUN_FAILED, f"LiteRT's profiler cannot be set up: {exc}") from None
        try:
            profiled, plain = lite.compile(profiling=True), lite.compile(profiling=False)
            for cm in (profiled, plain):
                lite.write_inputs(cm, prepared)
                for _ in range(min(10, runs)):  # warm-up: XNNPACK's first runs set up its workspace
                    lite.run(cm)
            times: dict = {"profiled": [], "plain": []}
            clock = time.perf_counter_ns
            lite.start(profiled)
            for _ in range(runs):
                for key, cm in (("profiled", profiled), ("plain", plain)):
                    start = clock()
                    lite.run(cm)
                    times[key].append(clock() - start)
            events = lite.stop(profiled)
        except OSError as exc:
            raise AgentError(E_RUN_FAILED, f"LiteRT's profiler failed: {exc}") from None
        finally:
            lite.close()
        # Medians: a shared machine's odd slow run would otherwise swing the figure the operators are held against.
        whole, unprofiled = (sorted(times[key])[runs // 2] for key in ("profiled", "plain"))
        rows = self._profile_events(events, runs)
        # The operators' timers do not see LiteRT's memory sampling: they break down the unprofiled inference.
        raw = {"unit": "ns", "runs": runs, "whole": whole, "whole_unprofiled": unprofiled, "events": rows,
               "rows_of": "whole_unprofiled"}
        raw["basis"] = (
            f"LiteRT {distribution_version(self._runtime)} CompiledModel on the CPU ({self._threads} thread, XNNPACK), "
            "profiled through its C API (libLiteRt.so, runtime option enable_profiling), not the Interpreter that "
            "bench times: operator times are TFLite's profiler events and XNNPACK's per-operator timings, in whole "
            "microseconds per run (XNNPACK rounds each operator down, so one under 1 us reads 0 and each reads "
            "about 0.5 us low); XNNPACK's operators are matched to the nodes of the .tflite in order (a node "
            "XNNPACK fused into the next, such as a PAD, has no row of its own: `fused`); whole is the median "
            "wall-clock of LiteRtRunCompiledModel with profiling on (LiteRT's own events sample the process's memory at their "
            "start and end: the operators' timers do not see it), whole_unprofiled the same on a CompiledModel "
            f"without it, alternating run by run ({platform.machine()} {cpu_model() or ''})".replace(" )", ")"))
        return raw

    def _profile_events(self, events: list, runs: int) -> list:
        """RawEvents from the profiler's events (tag, type, start_us, elapsed_us, metadata1, metadata2)."""
        OPERATOR, XNNPACK = 2, 8  # LiteRtProfilerEventType: OPERATOR_INVOKE_EVENT, DELEGATE_PROFILED_OPERATOR_...
        ops = self._interp._get_ops_details()
        plan = delegate_partitions(ops)
        rows: dict = {}  # (kernel, node or name) -> row

        def add(key, row, us):
            rows.setdefault(key, {**row, "times_us": []})["times_us"].append(us)

        bursts: list = []
        for tag, kind, _start, elapsed, meta1, meta2 in events:
            if kind == OPERATOR and meta2 == 0:  # a node the interpreter ran itself (subgraph 0 only: no nesting)
                add(("builtin", int(meta1)), self._op_row(ops, int(meta1), "builtin"), elapsed)
            elif kind == XNNPACK:
                if not bursts or bursts[-1] and meta1 <= bursts[-1][-1][0]:
                    bursts.append([])  # XNNPACK reports its operators 0, 1, ... after each delegate node's run
                bursts[-1].append((int(meta1), tag, elapsed))
        # Bursts follow the delegate nodes in execution order, once per run.
        matches: dict = {}
        aligned = bool(plan) and len(bursts) == runs * len(plan)
        per_run = max(1, len(bursts) // runs)
        for i, burst in enumerate(bursts):
            nodes = plan[i % len(plan)] if aligned else None
            names = tuple(tag for _, tag, _ in burst)
            if nodes is not None and (i % len(plan), names) not in matches:
                matches[(i % len(plan), names)] = self._match_xnnpack(names, [ops[n]["op_name"] for n in nodes])
            for k, (position, tag, elapsed) in enumerate(burst):
                if nodes is None:  # the CompiledModel split the graph otherwise than the Interpreter: unmatched
                    add(("XNNPACK?", i % per_run, position), {"name": tag, "index": None, "kernel": "XNNPACK",
                                                              "tensor": None, "runtime_op": tag}, elapsed)
                    continue
                node = nodes[matches[(i % len(plan), names)][k]]
                row = self._op_row(ops, node, "XNNPACK")
                add(("XNNPACK", node), row, elapsed)
                got = rows[("XNNPACK", node)]
                got.setdefault("runtime_ops", [])
                if tag not in got["runtime_ops"]:
                    got["runtime_ops"].append(tag)
        for (i, names), mapping in matches.items():  # nodes XNNPACK folded into a neighbour
            for node in set(plan[i]) - {plan[i][m] for m in mapping}:
                owner = next((plan[i][m] for m in sorted(set(mapping)) if plan[i][m] > node), None)
                if owner is not None and ("XNNPACK", owner) in rows:
                    fused = rows[("XNNPACK", owner)].setdefault("fused", [])
                    if node not in fused:
                        fused.append(node)
        out = []
        for row in sorted(rows.values(), key=lambda r: (r["index"] is None, r["index"] or 0)):
            times = row.pop("times_us")
            ops_named = row.pop("runtime_ops", None)
            if ops_named:
                row["runtime_op"] = " + ".join(ops_named)
            row["calls"] = calls = max(1, round(len(times) / runs))
            # The median run (the events come in run order, `calls` a run): as `whole`, robust to a slow run.
            per_run = sorted(sum(times[k:k + calls]) for k in range(0, len(times), calls))
            row["value"] = per_run[len(per_run) // 2] * 1000.0
            out.append(row)
        return out

    # Ops the converter adds around the graph (a layout TRANSPOSE after the input, a QUANTIZE of it, ...): glue
    # where they touch a model input or output, whatever module their tensor is named after.
    GLUE_OPS = ("TRANSPOSE", "QUANTIZE", "DEQUANTIZE", "RESHAPE")

    def _op_row(self, ops: list, node: int, kernel: str) -> dict:
        """The event's facts about .tflite node `node`: its op, its output tensor's name (where litert-torch wrote
        the module stack), `glue` for converter glue at the graph's edges, and for a node whose output took the
        signature's name (serving_default_output_<k>) the names of its inputs (its weights carry the module)."""
        op = ops[node] if 0 <= node < len(ops) else {"op_name": "?", "inputs": [], "outputs": []}
        graph_in = {int(d["index"]) for d in self._inputs}
        graph_out = {int(d["index"]) for d in self._outputs}
        outputs = [int(t) for t in op["outputs"] if t >= 0]
        inputs = [int(t) for t in op["inputs"] if t >= 0]
        row = {"name": op["op_name"], "index": node, "kernel": kernel,
               "tensor": self._tensor_name(outputs[0]) if outputs else None}
        touches_edge = bool(graph_in & set(inputs)) or bool(graph_out & set(outputs))
        if op["op_name"] in self.GLUE_OPS and touches_edge:
            row["glue"] = True
        elif graph_out & set(outputs):
            row["input_tensors"] = [self._tensor_name(t) for t in inputs]
        return row

    def _tensor_name(self, tensor: int):
        try:
            return self._interp._get_tensor_details(tensor, 0)["name"]
        except Exception:  # a tensor the wrapper cannot describe
            return None

    @classmethod
    def _compatible(cls, xnn: str, builtin: str) -> bool:
        kind = xnn.split(" (")[0].strip().lower()
        if builtin in cls.XNN_OPS.get(kind, ()):
            return True
        return kind == builtin.replace("_", " ").lower()  # "add" / ADD, "softmax" / SOFTMAX, "transpose", ...

    @classmethod
    def _match_xnnpack(cls, xnn: tuple, nodes: list) -> list:
        """For each XNNPACK operator, the position in `nodes` (the delegate's .tflite ops, in order) it runs. An
        alignment in order: a node may have no operator (XNNPACK fused it into a neighbour, or it costs nothing),
        an operator may be a further piece of the node before it; a kind that does not fit costs most."""
        n, m = len(xnn), len(nodes)
        if n == m and all(cls._compatible(x, b) for x, b in zip(xnn, nodes)):
            return list(range(n))
        INF = float("inf")
        MISFIT, SKIP, EXTRA = 3.0, 1.0, 1.5
        # cost[i][j][f]: the first i operators placed on the first j nodes; f: node j-1 got an operator.
        cost = [[[INF, INF] for _ in range(m + 1)] for _ in range(n + 1)]
        back: dict = {}
        cost[0][0][0] = 0.0
        for i in range(n + 1):
            for j in range(m + 1):
                for f in (0, 1):
                    c = cost[i][j][f]
                    if c == INF:
                        continue
                    if j < m and c + SKIP < cost[i][j + 1][0]:  # node j has no operator
                        cost[i][j + 1][0] = c + SKIP
                        back[(i, j + 1, 0)] = (i, j, f, None)
                    if i < n and j < m:  # operator i runs node j
                        d = c + (0.0 if cls._compatible(xnn[i], nodes[j]) else MISFIT)
                        if d < cost[i + 1][j + 1][1]:
                            cost[i + 1][j + 1][1] = d
                            back[(i + 1, j + 1, 1)] = (i, j, f, j)
                    if i < n and f == 1:  # operator i is another piece of node j-1
                        d = c + EXTRA + (0.0 if cls._compatible(xnn[i], nodes[j - 1]) else MISFIT)
                        if d < cost[i + 1][j][1]:
                            cost[i + 1][j][1] = d
                            back[(i + 1, j, 1)] = (i, j, f, j - 1)
        state = min(((n, m, 0), (n, m, 1)), key=lambda s: cost[s[0]][s[1]][s[2]])
        mapping = [0] * n
        while state != (0, 0, 0):
            i, j, f, node = back[state]
            if node is not None:
                mapping[i] = node
            state = (i, j, f)
        return mapping

    class _LiteRt:
        """LiteRT's C API through ctypes: an environment and the model, CompiledModels of it with or without
        profiling, their tensor buffers, runs, and the profiler's events."""

        def __init__(self, path: Path, threads: int) -> None:
            import ctypes
            import importlib
            self.C = C = ctypes
            package = Path(importlib.import_module("ai_edge_litert").__file__).parent
            self.lib = C.CDLL(str(package / "libLiteRt.so"))
            self.libc = C.CDLL(None)
            self.libc.strdup.restype, self.libc.strdup.argtypes = C.c_void_p, [C.c_char_p]
            self.threads = threads
            self.owned: list = []  # (destroy function, handle), destroyed in reverse order
            self.env = self._new("LiteRtCreateEnvironment", C.c_int(0), None, destroy="LiteRtDestroyEnvironment")
            self.model = self._new("LiteRtCreateModelFromFile", self.env, str(path).encode(),
                                   destroy="LiteRtDestroyModel")
            self.signature = C.c_void_p()
            self._call("LiteRtGetModelSignature", self.model, C.c_size_t(0), C.byref(self.signature))
            self.models: dict = {}

        def _call(self, name: str, *args) -> None:
            status = getattr(self.lib, name)(*args)
            if status != 0:
                raise OSError(f"{name} returned LiteRtStatus {status}")

        def _new(self, name: str, *args, destroy: str | None = None):
            handle = self.C.c_void_p()
            self._call(name, *args, self.C.byref(handle))
            if destroy:
                self.owned.append((destroy, handle))
            return handle

        def _opaque(self, options, identifier: str, toml: str) -> None:
            """Add LiteRT options given as its TOML payload (what LrtGetOpaque*OptionsData builds)."""
            C = self.C
            payload = self.libc.strdup(toml.encode())
            opaque = self._new("LiteRtCreateOpaqueOptions", identifier.encode(), C.c_void_p(payload),
                               C.cast(self.libc.free, C.c_void_p))
            self._call("LiteRtAddOpaqueOptions", options, opaque)  # `options` owns it from here

        def compile(self, profiling: bool):
            C = self.C
            options = self._new("LiteRtCreateOptions", destroy="LiteRtDestroyOptions")
            self._call("LiteRtSetOptionsHardwareAccelerators", options, C.c_int(1))  # kLiteRtHwAcceleratorCpu
            self._opaque(options, "xnnpack", f"num_threads = {int(self.threads)}\n")
            if profiling:
                self._opaque(options, "runtime_options_string", "enable_profiling = true\n")
            cm = self._new("LiteRtCreateCompiledModel", self.env, self.model, options,
                           destroy="LiteRtDestroyCompiledModel")
            buffers = {}
            for kind in ("Input", "Output"):
                count = C.c_size_t()
                self._call(f"LiteRtGetNumSignature{kind}s", self.signature, C.byref(count))
                found = []
                for i in range(count.value):
                    tensor = self._new(f"LiteRtGetSignature{kind}TensorByIndex", self.signature, C.c_size_t(i))
                    name = C.c_char_p()
                    self._call("LiteRtGetTensorName", tensor, C.byref(name))
                    tensor_type = (C.c_uint8 * 128)()  # LiteRtRankedTensorType (72 bytes), filled by LiteRT
                    self._call("LiteRtGetRankedTensorType", tensor, tensor_type)
                    requirements = self._new(f"LiteRtGetCompiledModel{kind}BufferRequirements", cm,
                                             C.c_size_t(0), C.c_size_t(i))
                    buffer = self._new("LiteRtCreateManagedTensorBufferFromRequirements", self.env, tensor_type,
                                       requirements, destroy="LiteRtDestroyTensorBuffer")
                    found.append({"name": (name.value or b"").decode(), "buffer": buffer})
                buffers[kind] = found
            inputs = (C.c_void_p * len(buffers["Input"]))(*[b["buffer"].value for b in buffers["Input"]])
            outputs = (C.c_void_p * len(buffers["Output"]))(*[b["buffer"].value for b in buffers["Output"]])
            self.models[cm.value] = (buffers, inputs, outputs)
            return cm

        def write_inputs(self, cm, prepared: list) -> None:
            """The model's inputs, in the PyTorch argument order (litert-torch's args_<i> names)."""
            C = self.C
            buffers = signature_order(self.models[cm.value][0]["Input"], "args_")
            for array, slot in zip(prepared, buffers):
                size = C.c_size_t()
                self._call("LiteRtGetTensorBufferSize", slot["buffer"], C.byref(size))
                if size.value < array.nbytes:
                    raise OSError(f"input {slot['name']} holds {size.value} B, the sample has {array.nbytes} B")
                address = C.c_void_p()
                self._call("LiteRtLockTensorBuffer", slot["buffer"], C.byref(address), C.c_int(1))  # write
                C.memmove(address, array.ctypes.data, array.nbytes)
                self._call("LiteRtUnlockTensorBuffer", slot["buffer"])

        def run(self, cm) -> None:
            _, inputs, outputs = self.models[cm.value]
            status = self.lib.LiteRtRunCompiledModel(cm, self.C.c_size_t(0), self.C.c_size_t(len(inputs)), inputs,
                                                     self.C.c_size_t(len(outputs)), outputs)
            if status != 0:
                raise OSError(f"LiteRtRunCompiledModel returned LiteRtStatus {status}")

        def start(self, cm) -> None:
            self.profiler = self._new("LiteRtCompiledModelGetProfiler", cm)  # owned by the CompiledModel
            self._call("LiteRtResetProfiler", self.profiler)
            self._call("LiteRtStartProfiler", self.profiler)

        def stop(self, cm) -> list:
            """The events recorded since `start`: (tag, type, start_us, elapsed_us, metadata1, metadata2)."""
            C = self.C
            self._call("LiteRtStopProfiler", self.profiler)
            count = C.c_int()
            self._call("LiteRtGetNumProfilerEvents", self.profiler, C.byref(count))
            events = (TFLiteModel._ProfiledEvent * count.value)()
            self._call("LiteRtGetProfilerEvents", self.profiler, count, events)
            return [((e.tag or b"").decode(errors="replace"), e.event_type, e.start_us, e.elapsed_us,
                     e.metadata1, e.metadata2) for e in events]

        def close(self) -> None:
            while self.owned:
                destroy, handle = self.owned.pop()
                getattr(self.lib, destroy)(handle)


def delegate_partitions(ops: list) -> list:
    """Per DELEGATE node, in execution order, the graph's nodes it replaced, in node order: a connected part of the
    graph, found by walking back from the delegate's outputs to its inputs."""
    producer = {int(t): op["index"] for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
    plan = []
    for delegate in (op for op in ops if op["op_name"] == "DELEGATE"):
        inputs = {int(t) for t in delegate["inputs"]}
        taken: set = set()
        stack = [int(t) for t in delegate["outputs"]]
        while stack:
            tensor = stack.pop()
            node = producer.get(tensor)
            if node is None or node in taken or tensor in inputs:
                continue
            taken.add(node)
            stack.extend(int(t) for t in ops[node]["inputs"] if t >= 0)
        plan.append(sorted(taken))
    return plan


def delegated_ops(ops: list) -> dict:
    """How many of the graph's operators a delegate (XNNPACK on a CPU) took, from the interpreter's node list
    after allocation: each DELEGATE node replaced a connected part of the graph, found by walking back from its
    outputs to its inputs. The interpreter keeps the replaced nodes in its list but not in its execution plan."""
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    taken = {node for part in delegate_partitions(ops) for node in part}
    left: dict = {}
    for op in ops:
        if op["op_name"] != "DELEGATE" and op["index"] not in taken:
            left[op["op_name"]] = left.get(op["op_name"], 0) + 1
    total = len(ops) - len(delegates)
    return {"name": "XNNPACK" if delegates else None, "ops": total, "delegated_ops": len(taken),
            "partitions": len(delegates), "not_delegated": left}


# The C++ runner (edgekit/agent/native/ek_pte_runner.cpp): where an image installs it, or where the env says.
PTE_RUNNER_ENV = "EDGEKIT_PTE_RUNNER"
PTE_RUNNER_PATH = "/opt/edgekit/bin/ek_pte_runner"
MODEL_FD_PATH = "/proc/self/fd/3"  # the model path both drivers give the runner: its open file on fd 3


def pte_runner_path() -> str | None:
    path = os.environ.get(PTE_RUNNER_ENV) or PTE_RUNNER_PATH
    return path if os.access(path, os.X_OK) else None


class PteRunnerModel:
    """A .pte through ek_pte_runner: ExecuTorch's C++ runtime with XNNPACK, linked the way an app links it, driven
    over pipes (its line protocol is at the top of ek_pte_runner.cpp). Latencies come from the runner's own clock
    around execute(), and memory is the runner process's: the app's footprint, not this Python's."""

    DTYPES = {"f32": "float32", "f16": "float16", "f64": "float64", "i8": "int8", "u8": "uint8", "i32": "int32",
              "i64": "int64", "bool": "bool"}

    @staticmethod
    def available() -> bool:
        return pte_runner_path() is not None

    @staticmethod
    def import_runtime() -> None:
        if pte_runner_path() is None:
            raise AgentError(E_RUNTIME_MISSING, f"ek_pte_runner not found at {PTE_RUNNER_PATH} (or ${PTE_RUNNER_ENV})")

    def __init__(self, path: Path) -> None:
        import subprocess
        self.import_runtime()
        # The runner gets the model as /proc/self/fd/3, as the native session starts the phone's bundle
        # (edgekit/session/native_runner.py): it keeps a heap copy of the path, and a path of another length moves
        # its later heap blocks, which changes the instructions glibc's memcpy/memset/malloc run per execute().
        # A small sh puts this process's open file on the runner's fd 3 (Popen keeps fd numbers, and a preexec_fn
        # is unsafe in a process with threads): it opens its inherited /proc/self/fd/N, which is that open file
        # whatever the path names by then (dash's "3<&N" takes one digit only). The runner then maps the file
        # opened here. stderr is ExecuTorch's log; only stdout carries the protocol.
        fd = os.open(path, os.O_RDONLY)
        try:
            self._proc = subprocess.Popen(["sh", "-c", f'exec "$0" {MODEL_FD_PATH} 3</proc/self/fd/{fd}',
                                           pte_runner_path()],
                                          pass_fds=(fd,), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL)
        finally:
            os.close(fd)
        head = self._line()
        if not head.startswith("ready "):
            detail = head.removeprefix("error ").replace(MODEL_FD_PATH, path.name)
            raise AgentError(E_LOAD_FAILED, f"ek_pte_runner could not load {path.name}: {detail}")
        n_in, n_out = (int(n) for n in head.split()[2:4])
        self._inputs = [self._spec(self._line(), "in") for _ in range(n_in)]
        self._outputs = [self._spec(self._line(), "out") for _ in range(n_out)]
        self._bound: list | None = None
        self._counts = True  # until the runner says it has no instruction counter

    def describe(self) -> dict:
        return {"name": "ek_pte_runner", "version": None}

    def _line(self) -> str:
        line = self._proc.stdout.readline()
        if not line:
            raise AgentError(E_RUN_FAILED, f"ek_pte_runner exited (status {self._proc.poll()})")
        return line.decode(errors="replace").rstrip("\n")

    def _spec(self, line: str, kind: str) -> tuple:
        import numpy as np
        parts = line.split()
        if len(parts) != 4 or parts[0] != kind or parts[2] not in self.DTYPES:
            raise AgentError(E_LOAD_FAILED, f"ek_pte_runner: unexpected line {line[:80]!r}")
        shape = [] if parts[3] == "scalar" else [int(d) for d in parts[3].split(",")]
        return np.dtype(self.DTYPES[parts[2]]), shape

    def _ask(self, command: str, payload: bytes = b"", refused: str = E_RUN_FAILED) -> str:
        """One command and its answer line; an "error" answer raises `refused` (the runner is still there)."""
        try:
            self._proc.stdin.write(command.encode() + b"\n" + payload)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise AgentError(E_RUN_FAILED, f"ek_pte_runner exited (status {self._proc.poll()})") from None
        answer = self._line()
        if not answer.startswith(("ok", "out ", "etdump ")):
            raise AgentError(refused, f"ek_pte_runner: {answer.removeprefix('error ')}")
        return answer

    def prepare(self, arrays: list) -> list:
        """Cast to the inputs' types. A shape may be smaller than the declared one, dim by dim: the declared shape
        of a dynamic input is its upper bound (a cached decoder's (1, max_seq_len) tokens); the runner, through
        ExecuTorch, refuses a smaller shape for a static input when it is set."""
        import numpy as np
        prepared = []
        for k, (a, (dtype, shape)) in enumerate(zip(arrays, self._inputs)):
            if (a.ndim != len(shape) or any(d > bound for d, bound in zip(a.shape, shape))
                    or (a.dtype.kind == "f") != (dtype.kind == "f")):
                raise AgentError(E_SHAPE_MISMATCH, f"input {k}: {a.dtype} {list(a.shape)} given, the model takes "
                                                   f"{dtype} {shape}" + (" (at most, dim by dim)" if shape else ""))
            prepared.append(np.ascontiguousarray(a, dtype=dtype))
        return prepared

    def _bind(self, prepared: list) -> None:
        if prepared is not self._bound:  # a bench reuses one prepared list: its bytes cross the pipe once
            for k, a in enumerate(prepared):
                # The shape always goes with the bytes, so a dynamic input takes this call's T (a 0-d one has none).
                # A refusal (a shape beyond the program's bound, a new shape for a static input) is the caller's.
                self._bound = None  # until all are set: after a refusal, the next call sets them all again
                self._ask(" ".join(["set", str(k), str(a.nbytes), *(str(d) for d in a.shape)]), a.tobytes(),
                          refused=E_SHAPE_MISMATCH)
            self._bound = prepared

    def invoke(self, prepared: list) -> None:
        self._bind(prepared)
        self._ask("run 1")

    def timed_runs(self, prepared: list, n: int) -> tuple[list, list | None]:
        """n executions: each one's nanoseconds on the runner's clock and user-space instructions from its CPU
        counter (None without one); no pipe or Python work is in either."""
        self._bind(prepared)
        times = [int(t) for t in self._ask(f"run {n}").split()[1:]]
        counts = None
        if self._counts:
            try:
                counts = [int(c) for c in self._ask("insns").split()[1:]]
            except AgentError:
                self._counts = False
        return times, counts

    def outputs(self) -> list:
        import numpy as np
        self._proc.stdin.write(b"get\n")
        self._proc.stdin.flush()
        outs = []
        for dtype, shape in self._outputs:
            head = self._line().split()
            if head[0] != "out":
                raise AgentError(E_RUN_FAILED, f"ek_pte_runner: {' '.join(head[1:])}")
            data = self._proc.stdout.read(int(head[2]))
            if len(head) > 3:  # the output's shape after this execute(): a dynamic output's may not be the declared
                shape = [] if head[3] == "scalar" else [int(d) for d in head[3].split(",")]
            outs.append(np.frombuffer(data, dtype).reshape(shape).copy())
        return outs

    def memory(self) -> dict:
        _, peak, rss = self._ask("mem").split()
        return {"peak_rss_bytes": int(peak), "rss_bytes": int(rss), "process": "ek_pte_runner"}

    def generate(self, prompt: list, new_tokens: int) -> dict:
        """Greedy tokens of a cached decoder with the loop inside the runner ("generate"): the same answer as
        Agent.cmd_generate's, each step timed on the runner's clock (set_input, execute(), argmax), and each
        execute()'s instructions where the runner has a counter (as the native session reads them)."""
        self._bound = None  # generate leaves the runner's inputs at its last step's
        values = [int(v) for v in self._ask(" ".join(["generate", str(new_tokens), *map(str, prompt)]),
                                            refused=E_BAD_REQUEST).split()[1:]]
        if len(values) != 2 * new_tokens:
            raise AgentError(E_RUN_FAILED, f"ek_pte_runner: generate answered {len(values)} fields")
        result = {"tokens": values[:new_tokens], "prefill_ns": values[new_tokens], "decode_ns": values[new_tokens + 1:],
                  "clock": "ek_pte_runner's steady_clock around set_input, execute() and argmax"}
        if self._counts:
            try:
                counts = [int(c) for c in self._ask("insns").split()[1:]]
            except AgentError:
                self._counts, counts = False, []
            if len(counts) == new_tokens:
                result["instructions"] = counts
        return result

    def profile(self, prepared: list, runs: int) -> dict:
        """A RawProfile (edgekit/measure/op_profile.py) from the runner's "profile": a second instance of the
        method with ExecuTorch's ETDump tracer, the warm-up and profiled executions in one ETDump, which travels
        whole to the host (ExecuTorchModel.raw_profile). `whole_unprofiled`: the benched method's execute()s,
        one before each traced one."""
        n = ExecuTorchModel.PROFILE_WARMUP + runs
        self._bind(prepared)
        head = self._ask(f"profile {n}").split()
        if head[0] != "etdump" or len(head) != 2 + 2 * n:
            raise AgentError(E_RUN_FAILED, f"ek_pte_runner: unexpected answer {' '.join(head)[:80]!r}")
        etdump = self._proc.stdout.read(int(head[1]))
        if len(etdump) != int(head[1]):
            raise AgentError(E_RUN_FAILED, f"ek_pte_runner exited (status {self._proc.poll()})")
        times = [int(t) for t in head[2:]]
        return ExecuTorchModel.raw_profile(etdump, times[:n], times[n:], "ek_pte_runner",
                                           "ek_pte_runner's steady_clock around execute()")


def signature_order(details: list, prefix: str) -> list:
    """Tensors in the PyTorch model's argument / output order. litert-torch names them '..._args_<i>' and
    '..._output_<k>_...', and the interpreter's own order of details is not guaranteed to follow them."""
    import re
    keys = [re.search(rf"{prefix}(\d+)", d["name"]) for d in details]
    if all(keys) and len({int(k.group(1)) for k in keys}) == len(keys):
        return [d for _, d in sorted(zip((int(k.group(1)) for k in keys), details), key=lambda p: p[0])]
    return list(details)


# Per format, the runtimes the agent can use, preferred first; the last one is used (and says what is missing)
# when none of the others is available.
RUNTIMES = {"pte": (PteRunnerModel, ExecuTorchModel), "tflite": (TFLiteModel,)}


def runtime_for(fmt: str):
    candidates = RUNTIMES.get(fmt)
    if not candidates:
        return None
    return next((c for c in candidates[:-1] if c.available()), candidates[-1])


# ---- stored encodings: files kept smaller in the artifact and expanded before loading -------------------------
# The host-side encoder and the format's description are in edgekit/sparse_file.py.

SPARSE_ENCODING = "bitmask-sparse-v1"
SPARSE_MAGIC = b"EKSPARS1"


def decode_bitmask_sparse(blob: bytes) -> bytes:
    """Expand a bitmask-sparse file: header, bitmask of non-zero words, the non-zero words, a raw tail."""
    import struct
    import numpy as np
    if blob[:8] != SPARSE_MAGIC or len(blob) < 24:
        raise ValueError("not a bitmask-sparse file")
    word, length = struct.unpack_from("<B7xQ", blob, 8)
    n_words = length // word
    mask_end = 24 + (n_words + 7) // 8
    nonzero = np.unpackbits(np.frombuffer(blob, np.uint8, mask_end - 24, 24), count=n_words,
                            bitorder="little").astype(bool)
    count = int(nonzero.sum())
    words = np.zeros(n_words, dtype=f"<u{word}")
    words[nonzero] = np.frombuffer(blob, f"<u{word}", count, mask_end)
    tail = blob[mask_end + count * word:]
    if len(tail) != length - n_words * word:
        raise ValueError("bitmask-sparse file is truncated")
    return words.tobytes() + tail


DECODERS = {SPARSE_ENCODING: decode_bitmask_sparse}


# ---- memory and machine facts ---------------------------------------------------------------------------------

def _proc_status_bytes(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory() -> dict:
    peak = _proc_status_bytes("VmHWM")
    if peak is None:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_rss_bytes": peak, "rss_bytes": _proc_status_bytes("VmRSS")}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def thermal() -> dict:
    """What a Linux board exposes: SoC temperature, CPU clock, throttling (vcgencmd on a Raspberry Pi)."""
    facts: dict = {}
    temp = _read("/sys/class/thermal/thermal_zone0/temp")
    if temp and temp.lstrip("-").isdigit():
        facts["cpu_temp_c"] = int(temp) / 1000
    freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    if freq and freq.isdigit():
        facts["cpu_clock_hz"] = int(freq) * 1000
        facts["cpu_clock_source"] = "cpufreq"
    else:  # VMs and some boards have no cpufreq: the kernel's current estimate per core
        for line in (_read("/proc/cpuinfo") or "").splitlines():
            if line.lower().startswith("cpu mhz"):
                try:
                    facts["cpu_clock_hz"] = float(line.split(":", 1)[1]) * 1e6
                    facts["cpu_clock_source"] = "/proc/cpuinfo"
                except ValueError:
                    pass
                break
    import shutil
    import subprocess
    if shutil.which("vcgencmd"):  # Raspberry Pi firmware: throttling flags (bit 0 under-voltage, bit 2 throttled)
        for key, args in (("throttled", ["get_throttled"]), ("arm_clock_hz", ["measure_clock", "arm"])):
            try:
                out = subprocess.run(["vcgencmd", *args], capture_output=True, text=True, timeout=5).stdout
                value = out.strip().split("=", 1)[-1]
                facts[key] = int(value) if key == "arm_clock_hz" and value.isdigit() else value
            except (OSError, subprocess.TimeoutExpired):
                pass
    return facts


# ---- instruction counts: the CPU's own counter, user space only ----------------------------------------------

_PERF_EVENT_OPEN = {"aarch64": 241, "x86_64": 298, "armv7l": 364}  # the syscall's number per architecture
_IOC_ENABLE, _IOC_DISABLE, _IOC_RESET = 0x2400, 0x2401, 0x2403


def _ioctl(fd: int, request: int, arg: int) -> None:
    import fcntl
    fcntl.ioctl(fd, request, arg)


class InstructionCounter:
    """The user-space instructions a process retires, read from the CPU's performance counter (Linux
    perf_event_open; under QEMU -icount the emulated PMU counts them exactly). Kernel work (timer ticks, page
    faults) is left out, so repeated runs of the same code give the same count: what a wall clock, or an emulator's
    virtual clock, cannot give. `open` returns None where the kernel, CPU or permissions offer no counter."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls):
        import ctypes
        import struct
        number = _PERF_EVENT_OPEN.get(platform.machine())
        if number is None or not sys.platform.startswith("linux"):
            return None
        attr = bytearray(128)  # struct perf_event_attr (PERF_ATTR_SIZE_VER7)
        struct.pack_into("IIQ", attr, 0, 0, len(attr), 1)  # PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS
        struct.pack_into("Q", attr, 40, (1 << 0) | (1 << 5) | (1 << 6))  # disabled, exclude_kernel, exclude_hv
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.syscall(ctypes.c_long(number), ctypes.create_string_buffer(bytes(attr), len(attr)),
                              ctypes.c_long(0), ctypes.c_long(-1), ctypes.c_long(-1), ctypes.c_long(0))
        except (OSError, AttributeError):
            return None
        return cls(fd) if fd >= 0 else None

    def start(self) -> None:
        _ioctl(self.fd, _IOC_RESET, 0)
        _ioctl(self.fd, _IOC_ENABLE, 0)

    def stop(self) -> int:
        _ioctl(self.fd, _IOC_DISABLE, 0)
        return int.from_bytes(os.read(self.fd, 8), sys.byteorder)

    def overhead(self, tries: int = 20) -> int:
        """The instructions counted around nothing (Python's own start/stop path), to subtract from each run."""
        counts = []
        for _ in range(tries):
            self.start()
            counts.append(self.stop())
        return min(counts)

    def close(self) -> None:
        os.close(self.fd)


# ---- the agent ------------------------------------------------------------------------------------------------

class BenchMeter:
    """A power meter the agent samples beside a bench (request field "meter": an INA219/INA260 on the board's I2C bus,
    `ina219:BUS:ADDR[:shunt=OHMS][:max_a=AMPS]` or `ina260:BUS:ADDR`; ina_sampler.py, beside this file). It samples
    `meter_baseline_s` of idle first, then every warm-up and timed inference, each timestamped just around the
    runtime's call on the sampler's clock (time.monotonic() from its start); the response's "meter" carries the raw
    readings and those windows, for the host to put on the chip's clock and integrate."""

    MAX_BASELINE_S = 10.0

    def __init__(self, module, sampler, baseline_s: float) -> None:
        self.module, self.sampler, self.baseline_s = module, sampler, baseline_s
        self.windows: list = []
        self.readings: list = []

    @classmethod
    def open(cls, req: dict) -> "BenchMeter":
        baseline_s = float(req.get("meter_baseline_s", 0.3))
        if not 0 <= baseline_s <= cls.MAX_BASELINE_S:
            raise AgentError(E_BAD_REQUEST, f"meter_baseline_s must be 0..{cls.MAX_BASELINE_S:g} s")
        try:
            from . import ina_sampler  # agent.py imported from the edgekit package (the host's tests)
        except ImportError:
            try:
                import ina_sampler  # beside agent.py on the device
            except ImportError as exc:
                raise AgentError(E_METER_FAILED, f"the meter's sampler cannot be imported: {exc}") from None
        try:
            sampler = ina_sampler.open_sampler(str(req["meter"]))
        except ina_sampler.MeterError as exc:
            raise AgentError(E_BAD_REQUEST if exc.is_bad_spec else E_METER_FAILED, exc.one_line()) from None
        return cls(ina_sampler, sampler, baseline_s)

    def _call(self, method, *args):
        try:
            return method(*args)
        except self.module.MeterError as exc:
            raise AgentError(E_METER_FAILED, exc.one_line()) from None

    def begin(self, model):
        """Start sampling, wait out the idle baseline; `model`, its calls timestamped."""
        self._call(self.sampler.start)
        time.sleep(self.baseline_s)
        return WindowedModel(model, self.sampler.now, self.windows)

    def end(self) -> None:
        self.readings = self._call(self.sampler.stop)

    def result(self) -> dict:
        import numpy as np
        return {"description": self.sampler.description,
                "readings": encode_tensor(self.module.readings_to_array(self.readings)),
                "windows": encode_tensor(np.asarray(self.windows, dtype=np.float64).reshape(-1, 2))}

    def close(self) -> None:
        self.sampler.close()


class WindowedModel:
    """A model whose every invoke (or out-of-process timed run) appends its (start, end) on `now`'s clock to
    `windows`."""

    def __init__(self, model, now, windows: list) -> None:
        self._model, self._now, self._windows = model, now, windows
        if getattr(model, "timed_runs", None) is not None:
            self.timed_runs = self._timed_runs

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def invoke(self, prepared: list) -> None:
        start = self._now()
        self._model.invoke(prepared)
        self._windows.append((start, self._now()))

    def _timed_runs(self, prepared: list, n: int):
        start = self._now()
        result = self._model.timed_runs(prepared, n)
        self._windows.append((start, self._now()))
        return result


class Agent:
    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace.resolve()
        self.model = None
        self.manifest: dict = {}
        self.reference_inputs: list = []

    def _inside(self, relative: str) -> Path:
        path = (self.workspace / relative).resolve()
        if path != self.workspace and self.workspace not in path.parents:
            raise AgentError(E_OUTSIDE_WORKSPACE, f"{relative!r} is outside the agent workspace")
        return path

    def cmd_hello(self, req: dict) -> dict:
        runtimes = []
        for name, probe in (("executorch", "executorch.runtime"),
                            *((module.split(".")[0], module) for module, _ in TFLITE_RUNTIMES)):
            import importlib.util
            try:
                if importlib.util.find_spec(probe) is not None:
                    runtimes.append(name)
            except ImportError:  # a parent package that is missing, or installed but broken: not a runtime here
                pass
        if pte_runner_path():
            runtimes.append("ek_pte_runner")
        return {"protocol_version": PROTOCOL_VERSION, "agent_version": AGENT_VERSION, "runtimes": runtimes,
                "machine": {"hostname": socket.gethostname(), "platform": platform.platform(),
                            "arch": platform.machine(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
                            "python": platform.python_version()}}

    def cmd_load(self, req: dict) -> dict:
        import numpy as np
        directory = self._inside(req.get("artifact", ""))
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise AgentError(E_LOAD_FAILED, f"cannot read manifest: {exc}") from None
        for name, meta in manifest["files"].items():
            path = self._inside(str(directory.relative_to(self.workspace) / name))
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            if digest != meta["sha256"]:
                raise AgentError(E_HASH_MISMATCH, f"{name}: sha256 does not match the manifest; refusing to load")
        runtime = runtime_for(manifest["format"])
        if runtime is None:
            raise AgentError(E_LOAD_FAILED, f"this agent cannot run format {manifest['format']!r}")
        runtime.import_runtime()  # importing Python modules is set-up, not model load time
        start = time.perf_counter()
        for name, stored in manifest.get("encoded", {}).items():  # decoding is part of loading: timed with it
            self._decode(directory, name, stored)
        decode_s = time.perf_counter() - start
        model_file = self._inside(str(directory.relative_to(self.workspace) / manifest["model_file"]))
        self.model = runtime(model_file, **req.get("options", {}))
        load_s = time.perf_counter() - start
        self.manifest = manifest
        batch = manifest["inputs"][0]["shape"][0]
        with np.load(self._inside(str(directory.relative_to(self.workspace) / manifest["reference"]["file"]))) as ref:
            keys = [f"input_{i}" for i in range(len(manifest["inputs"]))]
            keys = keys if all(k in ref.files for k in keys) else ["inputs"]  # artifacts from before version 2
            # A cached decoder's reference is one prompt (tokens (1, T), positions (T,)): taken whole.
            self.reference_inputs = [ref[k] if "generation" in manifest else ref[k][:batch] for k in keys]
        prepared = self.model.prepare(self.reference_inputs)
        start = time.perf_counter()
        self.model.invoke(prepared)
        first_s = time.perf_counter() - start
        return {"load_s": load_s, "decode_s": decode_s, "first_inference_s": first_s, "memory": memory(),
                "runtime": self.model.describe()}

    def _decode(self, directory: Path, name: str, stored: dict) -> None:
        """Write the dense file `name` from its stored encoding and check it against the manifest's sha256."""
        decoder = DECODERS.get(stored.get("encoding"))
        if decoder is None:
            raise AgentError(E_LOAD_FAILED, f"{name}: this agent cannot decode {stored.get('encoding')!r}")
        source = self._inside(str(directory.relative_to(self.workspace) / stored["file"]))
        target = self._inside(str(directory.relative_to(self.workspace) / name))
        if target == self.workspace:  # its .partial would be written next to the workspace, outside it
            raise AgentError(E_OUTSIDE_WORKSPACE, f"{name!r}: cannot replace the agent workspace itself")
        try:
            data = decoder(source.read_bytes())
        except (OSError, ValueError) as exc:
            raise AgentError(E_LOAD_FAILED, f"{name}: cannot decode {stored['file']}: {exc}") from None
        if hashlib.sha256(data).hexdigest() != stored["sha256"]:
            raise AgentError(E_HASH_MISMATCH, f"{name}: decoded file does not match its sha256; refusing to load")
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, target)

    def _need_model(self):
        if self.model is None:
            raise AgentError(E_NOT_LOADED, "no artifact loaded; send 'load' first")
        return self.model

    def cmd_bench(self, req: dict) -> dict:
        model = self._need_model()
        warmup, runs = int(req.get("warmup", 10)), int(req.get("runs", 100))
        cooldown_s = float(req.get("cooldown_s", 0))
        if runs < 1 or warmup < 0:
            raise AgentError(E_BAD_REQUEST, "runs must be >= 1 and warmup >= 0")
        meter = BenchMeter.open(req) if req.get("meter") else None
        try:
            result = self._bench(req, model, warmup, runs, cooldown_s, meter)
            return {**result, "meter": meter.result()} if meter is not None else result
        finally:
            if meter is not None:
                meter.close()

    def _bench(self, req: dict, model, warmup: int, runs: int, cooldown_s: float, meter) -> dict:
        prepared = model.prepare(self.reference_inputs)
        if meter is not None:
            model = meter.begin(model)  # idle baseline first; then every invoke is timestamped on the meter's clock
        for _ in range(warmup):
            model.invoke(prepared)
        before = thermal()
        # Temperature / clock / throttling through the runs, read outside the timed region (vcgencmd is a fork).
        # With a meter, nothing but the inferences runs while it measures them.
        every = runs + 1 if meter is not None else int(req.get("thermal_every", 0)) or max(1, runs // 10)
        samples = []
        latencies = []
        clock = time.perf_counter_ns
        # A runtime in another process times and counts itself; in this process, the counter wraps each invoke
        # and the instructions it counts around nothing are subtracted.
        timed_runs = getattr(model, "timed_runs", None)
        counting = bool(req.get("count_instructions"))
        counter = InstructionCounter.open() if counting and timed_runs is None else None
        overhead = counter.overhead() if counter is not None else 0
        instructions = []
        t0 = time.perf_counter()
        for i in range(runs):
            if timed_runs is not None:
                times, counts = timed_runs(prepared, 1)
                latencies += times
                if counting and counts is not None:
                    instructions += counts
            else:
                if counter is not None:
                    counter.start()
                start = clock()
                model.invoke(prepared)
                latencies.append(clock() - start)
                if counter is not None:
                    instructions.append(counter.stop() - overhead)
            if (i + 1) % every == 0:
                samples.append({"run": i + 1, "t_s": round(time.perf_counter() - t0, 4), **thermal()})
            if cooldown_s:
                time.sleep(cooldown_s)
        if counter is not None:
            counter.close()
        if meter is not None:
            meter.end()
        return {"latencies_ns": latencies, "warmup": warmup, "cooldown_s": cooldown_s, "thermal_before": before,
                "thermal_after": thermal(), "thermal_samples": samples,
                **({"instructions": instructions} if len(instructions) == runs else {})}

    def cmd_profile(self, req: dict) -> dict:
        """Per-operator figures over `runs` inferences of the reference inputs, from the runtime's own profiler:
        {"unit", "basis", "runs", "events": [{"name", "index", "kernel", "value", "calls", "tensor"}], "whole",
        "whole_unprofiled"} (edgekit/measure/op_profile.py: RawProfile). A runtime without one refuses."""
        model = self._need_model()
        runs = int(req.get("runs", 10))
        if runs < 1:
            raise AgentError(E_BAD_REQUEST, "runs must be >= 1")
        profile = getattr(model, "profile", None)
        if profile is None:
            raise AgentError(E_BAD_REQUEST, f"{model.describe()['name']} has no per-operator profiler")
        return profile(model.prepare(self.reference_inputs), runs)

    def cmd_predict(self, req: dict) -> dict:
        """Every output for N samples, run at the model's fixed batch size. Request: "inputs" (one tensor per model
        input, N samples each) or "x" (one-input models); answer: "outputs" (one per model output) and "y" (the
        first)."""
        import numpy as np
        model = self._need_model()
        specs = self.manifest["inputs"]
        arrays = [decode_tensor(t) for t in req["inputs"]] if "inputs" in req else [decode_tensor(req["x"])]
        if len(arrays) != len(specs):
            raise AgentError(E_SHAPE_MISMATCH, f"{len(arrays)} input tensor(s) given, the model takes {len(specs)}")
        batch, n = specs[0]["shape"][0], len(arrays[0])
        for x, spec in zip(arrays, specs):
            if tuple(x.shape[1:]) != tuple(spec["shape"][1:]) or len(x) != n or n % batch or n == 0:
                raise AgentError(E_SHAPE_MISMATCH, f"input '{spec['name']}' of shape {list(x.shape)} does not match "
                                                   f"the model input {spec['shape']} (N must be the same for every "
                                                   f"input and a positive multiple of {batch})")
        # Float samples are cast to the manifest's dtype (the runtime quantizes them if the model is int8);
        # integer samples go to the runtime as they are. raw=true returns the model's own output type.
        arrays = [x.astype(spec["dtype"], copy=False) if x.dtype.kind == "f" else x for x, spec in zip(arrays, specs)]
        read = getattr(model, "native_outputs", model.outputs) if req.get("raw") else model.outputs
        runs = []
        for i in range(0, n, batch):
            model.invoke(model.prepare([x[i:i + batch] for x in arrays]))
            runs.append([o.copy() for o in read()])
        outputs = [np.concatenate([r[k] for r in runs]) for k in range(len(runs[0]))]
        return {"outputs": [encode_tensor(o) for o in outputs], "y": encode_tensor(outputs[0])}

    def cmd_generate(self, req: dict) -> dict:
        """Greedy generation with a cached decoder (manifest "generation"): one call over the prompt (prefill),
        then one call per new token (decode), each taking (tokens (1, T) int64, positions (T,) int64) and returning
        the last token's logits. Request: "prompt" (token ids), "new_tokens"; answer: "tokens", "prefill_ns" (time
        to the first token, argmax included) and "decode_ns" (one per further token)."""
        import numpy as np
        model = self._need_model()
        spec = self.manifest.get("generation")
        if not spec:
            raise AgentError(E_BAD_REQUEST, "the loaded artifact is not a cached decoder; 'generate' needs one")
        prompt, new_tokens = req.get("prompt"), req.get("new_tokens")
        if (not isinstance(prompt, list) or not prompt or not all(isinstance(t, int) for t in prompt)
                or not isinstance(new_tokens, int) or new_tokens < 1):
            raise AgentError(E_BAD_REQUEST, "generate needs 'prompt' (a non-empty list of token ids) and "
                                            "'new_tokens' >= 1")
        if len(prompt) + new_tokens > spec["max_seq_len"]:
            raise AgentError(E_SHAPE_MISMATCH, f"prompt ({len(prompt)}) + new tokens ({new_tokens}) exceed the "
                                               f"decoder's context of {spec['max_seq_len']} tokens")
        if min(prompt) < 0 or max(prompt) >= spec["vocab_size"]:
            raise AgentError(E_BAD_REQUEST, f"prompt token ids must lie in 0..{spec['vocab_size'] - 1}")
        if hasattr(model, "generate"):  # a runtime in its own process runs the loop there (ek_pte_runner)
            return model.generate(prompt, new_tokens)
        clock = time.perf_counter_ns

        def step(tokens: list, start: int) -> int:
            ids = np.array([tokens], dtype=np.int64)
            positions = np.arange(start, start + len(tokens), dtype=np.int64)
            model.invoke(model.prepare([ids, positions]))
            return int(np.argmax(model.outputs()[0].reshape(-1)))

        t0 = clock()
        tokens = [step(prompt, 0)]
        prefill_ns = clock() - t0
        decode_ns = []
        for i in range(new_tokens - 1):
            t0 = clock()
            tokens.append(step(tokens[-1:], len(prompt) + i))
            decode_ns.append(clock() - t0)
        return {"tokens": tokens, "prefill_ns": prefill_ns, "decode_ns": decode_ns}

    def cmd_memory(self, req: dict) -> dict:
        own = memory()
        runtime_memory = getattr(self.model, "memory", None)  # a runtime in its own process: that process's
        if runtime_memory is None:
            return own
        return {**runtime_memory(), "agent_peak_rss_bytes": own["peak_rss_bytes"]}

    def cmd_thermal(self, req: dict) -> dict:
        return thermal()

    def handle(self, req: dict) -> dict:
        handler = getattr(self, f"cmd_{req.get('cmd')}", None)
        if handler is None:
            raise AgentError(E_BAD_REQUEST, f"unknown command {req.get('cmd')!r}")
        return handler(req)


def serve(agent: Agent, stdin, stdout) -> None:
    for line in stdin:
        if not line.strip():
            continue
        req_id = None
        try:
            req = json.loads(line)  # str or bytes: bytes not in UTF-8 are a ValueError (bad_request)
            if not isinstance(req, dict):
                raise AgentError(E_BAD_REQUEST, f"a request is a JSON object, not {type(req).__name__}")
            req_id = req.get("id")
            if req.get("cmd") == "shutdown":
                stdout.write(json.dumps({"id": req_id, "ok": True}) + "\n")
                stdout.flush()
                return
            resp = {"id": req_id, "ok": True, **agent.handle(req)}
        except AgentError as exc:
            resp = {"id": req_id, "ok": False, "error": {"code": exc.code, "message": str(exc)}}
        except (ValueError, KeyError, TypeError, OverflowError) as exc:  # OverflowError: int(inf), sleep(1e300)
            resp = {"id": req_id, "ok": False, "error": {"code": E_BAD_REQUEST, "message": f"{type(exc).__name__}: {exc}"}}
        except Exception as exc:  # the agent must answer, whatever the runtime throws
            code = E_OUT_OF_MEMORY if out_of_memory(exc) else E_RUN_FAILED
            resp = {"id": req_id, "ok": False, "error": {"code": code, "message": f"{type(exc).__name__}: {exc}"}}
        stdout.write(json.dumps(resp) + "\n")
        stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, type=Path, help="directory the agent may read artifacts from")
    parser.add_argument("--memory-limit", type=int, help="cap this process's address space (bytes), e.g. to "
                                                         "the RAM of the device an emulated target stands for")
    args = parser.parse_args()
    # A runtime that crashes in native code (SIGSEGV, SIGABRT, ...) then says so on stderr, which the host reports.
    faulthandler.enable()
    if args.memory_limit:
        # Set here, before any runtime is imported, rather than in a pre-exec hook of a multithreaded host.
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit, args.memory_limit))
    # Responses go to the real stdout; anything a runtime prints goes to stderr instead of corrupting the stream.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Request lines as bytes: a text-mode stdin under a strict locale (e.g. en_GB.UTF-8 on a Pi image) would raise
    # UnicodeDecodeError from the loop itself on a line that is not UTF-8 and end the agent instead of answering.
    serve(Agent(args.workspace), sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
