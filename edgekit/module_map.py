"""Which module of the user's model does what: for every module that runs, its type, the MACs of the ops it runs
itself (not its children's), and the source line that calls it. Written into the manifest (`model.modules`) at
compile time, so a per-operator profile can say, for a device's op, which layer of the model it is and what it
costs per MAC (edgekit/measure/op_profile.py)."""
from __future__ import annotations

import os
import re
import sys
from typing import Any

import torch
from torch import fx

from .metrics import MacCounter, macs_per_node

_TORCH_DIR = os.path.dirname(torch.__file__)
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')


def module_table(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    """{module path: {"type", "macs", "source"}} from one forward pass on the example inputs; the model itself is
    "" (the ops its own forward runs). An exported graph (a `.pt2`, a PT2E-quantized model) is read from its nodes'
    module stacks and stack traces."""
    with torch.no_grad():
        if isinstance(model, fx.GraphModule):
            return _from_graph(model, example_inputs)
        return _from_hooks(model, example_inputs)


def _user_frame(frames: list[tuple[str, int]]) -> str | None:
    """'file.py:LINE' of the innermost frame outside torch (the user's line that called the module)."""
    for filename, line in reversed(frames):
        if not filename.startswith(_TORCH_DIR) and "<" not in filename:
            return f"{_short(filename)}:{line}"
    return None


def _short(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive
        return filename
    return relative if not relative.startswith("..") else filename


def _from_hooks(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    stack: list[str] = []
    counter = _Attributing(table, stack)
    handles = []
    for path, module in model.named_modules():
        def enter(_module: torch.nn.Module, _args: Any, path: str = path) -> None:
            if path not in table:
                frame, frames = sys._getframe(1), []
                while frame is not None:
                    frames.append((frame.f_code.co_filename, frame.f_lineno))
                    frame = frame.f_back
                # The model itself is called by edgekit, not from a line of the user's.
                source = _user_frame(frames[::-1]) if path else None
                table[path] = {"type": type(_module).__name__, "macs": 0, "source": source}
            stack.append(path)

        def leave(*_: Any) -> None:
            stack.pop()

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        with counter:
            model(*example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    # Containers whose children did all the work add nothing a device's op could be mapped to.
    return {path: entry for path, entry in table.items() if path in counter.ran}


class _Attributing(MacCounter):
    """A MAC counter that credits each op's MACs to the innermost module running."""

    def __init__(self, table: dict[str, dict[str, Any]], stack: list[str]) -> None:
        super().__init__()
        self.table, self.stack = table, stack
        self.ran: set[str] = set()  # modules that ran an op themselves

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        before = self.flops
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if self.stack:
            self.ran.add(self.stack[-1])
            self.table[self.stack[-1]]["macs"] += (self.flops - before) // 2
        return out


def _from_graph(graph: fx.GraphModule, example_inputs: tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    macs, _ = macs_per_node(graph, example_inputs)
    table: dict[str, dict[str, Any]] = {}
    for node in graph.graph.nodes:
        if node.op != "call_function":
            continue
        stack = node.meta.get("nn_module_stack")
        path, kind = list(stack.values())[-1] if stack else ("", type(graph).__name__)
        path = path.removeprefix("L__self___")
        entry = table.setdefault(path, {"type": str(getattr(kind, "__name__", kind)).rpartition(".")[2],
                                         "macs": 0, "source": None})
        entry["macs"] += macs.get(node, 0)
        if path and entry["source"] is None and node.meta.get("stack_trace"):
            frames = [(m["file"], int(m["line"])) for m in _FRAME.finditer(node.meta["stack_trace"])]
            entry["source"] = _user_frame(frames)
    return table
