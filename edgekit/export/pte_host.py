"""A .pte run on this host with ExecuTorch's Python runtime (the release the phone runs, requirements.txt): what the
compiled file computes, XNNPACK's kernels included, where a PyTorch run of the quantized graph is only a reference.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UnsupportedError


def host_runner(path: str | Path, batch: int) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """A function running the .pte at `path` over samples (one array per model input), `batch` at a time (the
    program's fixed batch size); returns every output as float32, in the program's order."""
    from ..agent.agent import ExecuTorchModel
    model = ExecuTorchModel(Path(path))

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        n = len(inputs[0])
        if n % batch:
            raise UnsupportedError(f"{n} samples are not a multiple of the program's batch size {batch}")
        runs = []
        for i in range(0, n, batch):
            model.invoke(model.prepare([np.ascontiguousarray(x[i:i + batch]) for x in inputs]))
            runs.append([np.asarray(o, dtype=np.float32).copy() for o in model.outputs()])
        return [np.concatenate([r[k] for r in runs]) for k in range(len(runs[0]))]
    return run
