"""Shared by the compression benchmarks: merge one section into bench/results/compression.json atomically."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "compression.json"


def machine() -> dict[str, Any]:
    """common.machine() (CPU, its kernel-relevant flags, cores) plus torch's version and thread count."""
    import torch

    from common import machine as host
    return {**host(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def merge_section(name: str, section: dict[str, Any], path: Path = RESULTS) -> None:
    """Replace `name` in the results file (other sections, from other scripts, are kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {**section, "command": " ".join([Path(sys.executable).name, *sys.argv]),
                  "machine": machine(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".compression.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
