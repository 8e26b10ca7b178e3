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
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def write_result(name: str, figures: dict[str, Any]) -> Path:
    """Write bench/results/NAME.json with the figures, the command that made them and the machine."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {"command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), **figures}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
