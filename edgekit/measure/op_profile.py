"""Per-operator profiles (`edgekit bench --profile`): what each target's runtime reports per operator, mapped back to
the module of the user's PyTorch model, in one report section.

Every target's session answers `profile(runs)` with a raw profile (see `RawProfile`); a mapper registered for the
artifact's format (`register_mapper`) names each event's module from what the compiler kept (the `.tflite` tensor
names, ExecuTorch's ETRecord, the MCU's kernel table); `ops_section` adds the shares, the MACs and the per-layer
quantization error from the manifest (`model.modules`, `numerics`), and checks that the rows add up to the whole
inference measured in the same run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypedDict

if TYPE_CHECKING:
    from ..artifact import Artifact

GLUE = "(glue added by the converter)"  # a row no module of the model produced (a layout TRANSPOSE, a QUANTIZE)
ROOT = "(the model's own forward)"      # a row of an op the model's forward runs itself (a flatten, a softmax)
TOP_ROWS = 10                           # rows the terminal table shows
PROFILE_RUNS = 10                       # profiled inferences after a bench's timed runs


class RawEvent(TypedDict, total=False):
    """One operator as the device's runtime reported it, summed over the profiled runs and divided by their count."""
    name: str           # the runtime's name for the op (CONV_2D, aten.convolution.default, "Convolution (NC, QC8)")
    index: int          # its position in the runtime's graph (TFLite op index, ExecuTorch instruction, MCU kernel)
    kernel: str         # what ran it: "XNNPACK", "portable", "builtin", "arm_depthwise_conv_s8_dsp", ...
    value: float        # per inference, in the profile's unit
    calls: int          # how many times the op ran per inference (loops, recurrent cells)
    tensor: str         # the name the converter gave the op's output (.tflite, MCU): where the module path is read
    runtime_op: str     # the runtime's own operator, where it differs from the graph's (XNNPACK's "... GEMM")
    fused: list[str]    # graph nodes (or modules) the runtime ran inside this op (a PAD, a batch norm, a ReLU)


class RawProfile(TypedDict, total=False):
    unit: str                   # "ns" (a clock), "instructions" (counted: QEMU -icount or a PMU), "cycles" (DWT)
    basis: str                  # how the figures were obtained, in words (which profiler, which clock, which machine)
    runs: int                   # profiled inferences the figures are averaged over
    events: list[RawEvent]
    whole: float                # one whole inference measured in the same run, same unit, profiling on
    whole_unprofiled: float     # the same without profiling, in the same run; the overhead is
                                # whole / whole_unprofiled - 1
    rows_of: str                # which of the two the rows break down: "whole" (default: the profiler's own cost
                                # lands in the rows, as ETDump's inside a delegate call) or "whole_unprofiled"
                                # (it lands between them, as LiteRT's memory sampling at its own events)
    not_broken_down: str        # why a delegated segment stays one row, when the runtime cannot split it
    etdump: str                 # a .pte's ETDump (base64): its events are read on the host (profile_pte.py)


Mapper = Callable[["Artifact", RawProfile], list[dict[str, Any]]]
_MAPPERS: dict[str, Mapper] = {}
# The modules that register a mapper, imported when a profile is asked for (each imports what its format needs).
_MAPPER_MODULES = ("profile_pte", "profile_tflite", "profile_mcu")


def register_mapper(*formats: str) -> Callable[[Mapper], Mapper]:
    """Register how a format's raw events become rows: mapper(artifact, raw) -> [row], each row a RawEvent plus
    `module` (a module path of the user's model, "" for the model's own forward, None for glue) and optionally
    `source`."""
    def wrap(mapper: Mapper) -> Mapper:
        for fmt in formats:
            _MAPPERS[fmt] = mapper
        return mapper
    return wrap


def mapper_for(fmt: str) -> Mapper:
    import importlib
    from ..errors import UnsupportedError
    for name in _MAPPER_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    if fmt not in _MAPPERS:
        raise UnsupportedError(f"no per-operator profile for .{fmt} artifacts",
                               f"--profile works for: {', '.join(sorted(_MAPPERS))}")
    return _MAPPERS[fmt]


# litert-torch names each op's output after the module stack that produced it:
# "pkg.Model/torch.nn.modules.container.Sequential_features/pkg.ConvNormAct_0/torch.nn.modules.conv.Conv2d_0;2",
# i.e. "<class>_<attribute>" per level below the root (a class name holds no "_" by PEP 8; one that does is read
# wrongly); fused ops join several such names with ";".


def module_of_tensor_name(name: str, modules: dict[str, dict[str, Any]] | None = None) -> str | None:
    """The module path ("features.0.0") a converter's tensor name points to, "" for the model's own forward (a
    name of the root class alone, which `modules` must know as ""), or None for a name no module made. A fused op
    names several modules (a conv and its ReLU): the one with the most MACs in `modules` (the manifest's
    `model.modules`) wins, else the last named (litert-torch names the fused activation first)."""
    modules = modules or {}
    paths = []
    for part in name.split(";"):
        levels = [level for level in part.split("/") if level]
        attrs = [level.rpartition(".")[2].partition("_")[2] for level in levels[1:]]
        if attrs and all(attrs):
            paths.append(known_path(".".join(attrs), modules))
        elif len(levels) == 1 and "" in modules and levels[0].rpartition(".")[2] == modules[""]["type"]:
            paths.append("")
    if not paths:
        return None
    return max(paths, key=lambda p: (modules.get(p, {}).get("macs") or 0, paths.index(p)))


def known_path(path: str, modules: dict[str, dict[str, Any]]) -> str:
    """`path` as `modules` knows it. edgekit exports a model whose outputs are not a flat tuple inside a wrapper
    (compress/outputs.py), whose attribute `model` then heads every path the exporter saw. litert-torch names each
    module by its last attribute only, so a container that is never called (a ModuleList `layer`) leaves no level:
    "encoder.0.attention" is the model's "encoder.layer.0.attention"."""
    if not modules or path in modules:
        return path
    if path.startswith("model.") and path[len("model."):] in modules:
        return path[len("model."):]
    prefixes = {".".join(parts[:k]) for parts in (m.split(".") for m in modules if m) for k in range(1, len(parts) + 1)}
    walked = ""
    for attr in path.split("."):
        direct = f"{walked}.{attr}" if walked else attr
        if direct in prefixes:
            walked = direct
            continue
        # one uncalled container between: the only `<walked>.<container>.<attr>` the model has
        inside = [p for p in prefixes if p.startswith(f"{walked}." if walked else "") and p.endswith(f".{attr}")
                  and p.count(".") == direct.count(".") + 1]
        if len(inside) != 1:
            return path
        walked = inside[0]
    return walked


def ops_section(artifact: "Artifact", raw: RawProfile, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's `ops` section: rows by cost (share, MACs, instructions or ns per MAC, module type and source,
    the layer's INT8 error from compile), their sum against the whole inference they break down, measured in the
    same run (`coverage`), and the profiler's overhead."""
    modules = artifact.manifest.get("model", {}).get("modules") or {}
    # Each module's output SQNR, where the compiler measured it (a static INT8 model below its cosine threshold).
    drift = (artifact.manifest.get("numerics") or {}).get("sqnr_by_module") or {}
    total = sum(r["value"] for r in rows)
    whole = raw.get(raw.get("rows_of") or "whole") or raw.get("whole") or total
    macs_seen: set[str] = set()
    out = []
    for row in sorted(rows, key=lambda r: -r["value"]):
        path = row.get("module")
        facts = modules.get(path, {}) if path is not None else {}
        module = GLUE if path is None else ROOT if path == "" else path
        # A module's MACs go with its costliest row (a conv and its fused bias add are one layer's work).
        macs = facts.get("macs") if module not in macs_seen else None
        if macs:
            macs_seen.add(module)
        out.append({
            "op": row.get("name"), "kernel": row.get("kernel"), "index": row.get("index"),
            **{key: row[key] for key in ("runtime_op", "fused") if row.get(key)},
            "calls": row.get("calls", 1), "value": row["value"], "share": row["value"] / whole if whole else None,
            "module": module, "module_type": facts.get("type"), "source": row.get("source") or facts.get("source"),
            "macs": macs, "per_mac": row["value"] / macs if macs else None,
            **({"sqnr_db": drift[module]} if module in drift else {}),
        })
    unprofiled = raw.get("whole_unprofiled")
    return {
        "unit": raw["unit"], "basis": raw.get("basis"), "runs": raw.get("runs"),
        "rows": out, "rows_sum": total, "whole": whole, "rows_of": raw.get("rows_of") or "whole",
        "coverage": total / whole if whole else None,
        "overhead": (raw["whole"] / unprofiled - 1) if unprofiled and raw.get("whole") else None,
        **({"not_broken_down": raw["not_broken_down"]} if raw.get("not_broken_down") else {}),
    }

