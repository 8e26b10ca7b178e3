"""ExecuTorch `.pte` with the XNNPACK delegate (phones and other devices running the ExecuTorch runtime)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from ..compress.outputs import with_tensor_outputs
from ..compress.quantize import XNNPACK_INT8
from ..compress.xnnpack_bias import unshare_biases
from ..errors import UnsupportedError
from ..profiles import Profile
from .base import ExportResult, register_exporter
from .xnnpack_weights import check_symmetric_int4, int4_for_xnnpack


class _WhyNotDelegated(logging.Handler):
    """Collects the partitioner's 'WhyNoPartition' debug records: node -> reason."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reasons: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg
        node, reason = getattr(msg, "node", None), getattr(msg, "reason", None)
        if node is not None and reason:
            self.reasons.setdefault(str(getattr(node, "target", node)), reason)


def check_loads(path: Path) -> None:
    """Refuse a program ExecuTorch's runtime cannot load (an operator with no kernel, say): the phone runs the
    same ExecuTorch release (requirements.txt, images/debian-arm64-phone.toml's runner), so this load is the
    phone's."""
    from executorch.runtime import Runtime
    try:
        import executorch.kernels.quantized  # noqa: F401  (the quantized kernels the phone's runner links)
    except ImportError:
        pass
    try:
        Runtime.get().load_program(path).load_method("forward")
    except Exception as exc:  # the runtime raises RuntimeError / ValueError with its own message
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UnsupportedError(f"ExecuTorch's runtime cannot load the program: {first}",
                               "replace the operation it names in the model, or compile without the compression "
                               "step that introduced it") from None


# ExecuTorch's ETRecord of the program, beside the .pte: the graphs the program was made from, every node with its
# debug handle, nn_module_stack and stack_trace, and which instruction runs which nodes. `edgekit bench --profile`
# maps the device's ETDump events through it to the user's modules (edgekit/measure/profile_pte.py).
ETRECORD = "model.etrecord"


def _weightless(obj: Any) -> Any:
    """`obj` with every tensor on the meta device: shapes and dtypes kept, no data."""
    if isinstance(obj, torch.nn.Parameter):
        return torch.nn.Parameter(obj.detach().to("meta"), requires_grad=obj.requires_grad)
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("meta")
    if isinstance(obj, dict):
        return {k: _weightless(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_weightless(v) for v in obj)
    return obj


def write_slim_etrecord(etrecord: Any, path: Path) -> None:
    """Save `etrecord` (ExecuTorch's ETRecord) without the data of its tensors, compressed. As saved, it holds the
    weights twice (the exported and the edge program's state_dict: 31 MB beside MobileNetV2's 14 MB .pte); mapping
    events to nodes needs only the graphs and the maps, and executorch.devtools reads the result as it is (the
    Inspector, parse_etrecord) with its tensors on the meta device."""
    import io
    import zipfile
    full = io.BytesIO()
    etrecord.save(full)
    with zipfile.ZipFile(full) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if data and info.filename.endswith(("_state_dict", "_constants", "_example_inputs",
                                                "reference_outputs", "representative_inputs")):
                stored = io.BytesIO()
                torch.save(_weightless(torch.load(io.BytesIO(data), weights_only=False)), stored)
                data = stored.getvalue()
            zout.writestr(info.filename, data)


def _op_name(target: Any) -> str:
    return getattr(target, "__name__", str(target))


class ExecuTorchExporter:
    name = "executorch-xnnpack"
    format = "pte"

    def unsupported_reason(self, profile: Profile) -> str | None:
        if not profile.accepts_format("pte"):
            return "target does not accept .pte"
        if "executorch" not in profile.software.runtimes:
            return "target has no ExecuTorch runtime"
        return None

    int8 = XNNPACK_INT8

    def check(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], profile: Profile,
              recipe: Sequence[Any]) -> None:
        """INT4 steps must be symmetric (XNNPACK's 4-bit kernels); the converter says what else it cannot take."""
        check_symmetric_int4(list(recipe))

    def export(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], workdir: Path,
               profile: Profile, *, int8_io: bool = True, dynamic_shapes: Any = None) -> ExportResult:
        """int8_io has nothing to choose here: XNNPACK's INT8 programs take and return float32. INT4 layers are
        swapped (in place) for XNNPACK's 4-bit form. dynamic_shapes: as torch.export takes them."""
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        int4_for_xnnpack(model)
        if isinstance(model, torch.fx.GraphModule):  # XNNPACK quantizes a shared bias once (xnnpack_bias.py)
            unshare_biases(model)
        try:
            exported = torch.export.export(with_tensor_outputs(model, example_inputs), example_inputs,
                                           dynamic_shapes=dynamic_shapes)
        except Exception as exc:  # torch.export raises many types; all mean the model cannot be captured
            raise UnsupportedError(f"torch.export could not capture the model: {str(exc).splitlines()[0]}",
                                   "see https://pytorch.org/docs/stable/export.html for what export supports") from exc
        # The ETRecord is for `bench --profile`. A cached decoder (the only caller with dynamic shapes) is benched
        # with --generate, which has none, and ExecuTorch deep-copies the edge program, weights included, to
        # record it: a language model's compile would need twice its memory for nothing.
        keep_record = dynamic_shapes is None
        why = _WhyNotDelegated()
        partition_logger = logging.getLogger("executorch.backends.xnnpack")
        old_level, old_propagate = partition_logger.level, partition_logger.propagate
        partition_logger.addHandler(why)
        partition_logger.setLevel(logging.DEBUG)
        partition_logger.propagate = False  # the records are ours to collect, not the user's log to fill
        try:
            edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()],
                                               generate_etrecord=keep_record)
        except Exception as exc:
            raise UnsupportedError(f"lowering to ExecuTorch failed: {str(exc).splitlines()[0]}") from exc
        finally:
            partition_logger.removeHandler(why)
            partition_logger.setLevel(old_level)
            partition_logger.propagate = old_propagate
        delegation = self._delegation(edge.exported_program().graph_module, why.reasons)
        program = edge.to_executorch()
        path = workdir / "model.pte"
        path.write_bytes(program.buffer)
        check_loads(path)
        files, info = {"model.pte": path}, {"exporter": self.name, "delegation": delegation}
        if keep_record:
            try:
                write_slim_etrecord(program.get_etrecord(), workdir / ETRECORD)
            except Exception as exc:  # an aid to profiling, not the artifact: its absence is said when profiled
                logging.getLogger(__name__).warning("no ETRecord written (bench --profile will not name modules): "
                                                    "%s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            else:
                files[ETRECORD] = workdir / ETRECORD
                info["etrecord"] = ETRECORD
        return ExportResult(files=files, model_file="model.pte", format="pte", info=info)

    @staticmethod
    def _delegation(graph_module: torch.fx.GraphModule, reasons: dict[str, str]) -> dict[str, Any]:
        from executorch.devtools.backend_debug import get_delegation_info
        info = get_delegation_info(graph_module)
        delegated = {op: b.delegated for op, b in info.delegation_by_operator.items() if b.delegated}
        not_delegated = {}
        for node in graph_module.graph.nodes:
            if node.op != "call_function" or "executorch_call_delegate" in _op_name(node.target):
                continue
            if _op_name(node.target) == "getitem":
                continue
            op = _op_name(node.target)
            reason = reasons.get(op)
            not_delegated.setdefault(op, {"count": 0, "reason": reason or
                                          "the XNNPACK partitioner has no kernel for this op (runs on the portable CPU kernels)"})
            not_delegated[op]["count"] += 1
        return {"backend": "XnnpackBackend", "delegated_subgraphs": info.num_delegated_subgraphs,
                "delegated_nodes": info.num_delegated_nodes, "non_delegated_nodes": info.num_non_delegated_nodes,
                "delegated_ops": delegated, "not_delegated_ops": not_delegated}


register_exporter(ExecuTorchExporter())
