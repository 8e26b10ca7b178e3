"""`bench --profile` for c-firmware artifacts: each kernel call the firmware timed (FirmwareSession.profile) named
by the module of the PyTorch model whose .tflite op it ran.

The firmware's events carry the .tflite op (kind, index) and its output tensor's name, from the artifact's
kernel-call table (edgekit/export/mcu/package.py, `kernel_calls.json`); litert-torch named that tensor after the
module stack that produced it. The model's last op is the exception: its output takes the signature's name
("serving_default_output_0_output"), so where the output names no module, the op's constant inputs (weights, bias:
"...Linear_classifier;") are read instead. An op no module produced (a layout TRANSPOSE, a requantizing QUANTIZE)
is glue (module None).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .op_profile import RawProfile, module_of_tensor_name, register_mapper

if TYPE_CHECKING:
    from ..artifact import Artifact


@register_mapper("c-firmware")
def map_firmware_profile(artifact: "Artifact", raw: RawProfile) -> list[dict[str, Any]]:
    """One row per kernel call: the raw event plus `module` (a module path of the model, or None for glue)."""
    modules = (artifact.manifest.get("model") or {}).get("modules")
    constants = _constants_by_op(artifact)
    rows = []
    for event in raw.get("events", []):
        names = [event.get("tensor") or "", *constants.get(event.get("index", -1), [])]
        module = next((m for m in (_module(n, modules) for n in names) if m is not None), None)
        rows.append({**event, "module": module})
    return rows


def _constants_by_op(artifact: "Artifact") -> dict[int, list[str]]:
    """.tflite op index -> the names of its constant inputs, from the artifact's kernel-call table (none when the
    artifact has no table or an older one)."""
    name = artifact.manifest.get("export", {}).get("firmware", {}).get("profile_table")
    try:
        calls = json.loads((artifact.path / name).read_text())["calls"] if name else []
    except (OSError, ValueError, KeyError):
        return {}  # the session already read this table to profile; a row without a module is then glue
    return {c["index"]: list(c.get("constants") or []) for c in calls}


def _module(tensor: str, modules: dict[str, dict[str, Any]] | None) -> str | None:
    """The module `tensor` names. Where the manifest lists the model's modules, the name must lead to one of them
    (itself or the nearest enclosing one): a path litert-torch made up for converter glue is not a layer."""
    module = module_of_tensor_name(tensor, modules) if tensor else None
    if module is None or not modules:
        return module
    parts = module.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or None
