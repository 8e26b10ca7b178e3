"""Shared bits of the benchmark scripts: where results go and what machine made them."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
CALIBRATION_SAMPLES = 256


def compile_fp32_and_int8(model: Any, split: Any, target: str, workdir: Path, name: str) -> dict[str, Any]:
    """The same model compiled FP32 and INT8 (PTQ on the training split) for `target`: {'fp32': art, 'int8': art}."""
    import torch

    import edgekit
    example = (torch.from_numpy(split.x_test[:1]),)
    cal = edgekit.Dataset(split.x_train, split.y_train)
    int8 = [edgekit.Int8StaticConfig(calibration_samples=CALIBRATION_SAMPLES)]
    return {prec: edgekit.compile_model(model, example, target, workdir / f"{name}-{prec}", recipe=recipe,
                                        calibration=cal)
            for prec, recipe in (("fp32", []), ("int8", int8))}


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags: list[str] = []
    try:  # the flags that change CPU kernels' speed between machines of the same name
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = sorted(have & {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                                       "amx_int8", "sse4_2", "f16c", "avx512_bf16"})
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def write_result(name: str, figures: dict[str, Any], path: Path | None = None) -> Path:
    """Write bench/results/NAME.json (or `path`) with the figures, the command that made them and the machine."""
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), **figures}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
