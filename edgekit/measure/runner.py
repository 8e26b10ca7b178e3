"""Deploy an artifact to a target through its transport, drive the agent, and build the report."""
from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..artifact import Artifact
from ..errors import UnsupportedError
from ..modelio import Dataset
from ..profiles import Profile, load_profile
from ..transport import make_transport
from .estimates import device_latency_estimate, energy_estimate
from .stats import agreement, latency_summary, top1_accuracy

REPORT_SCHEMA_VERSION = 1
Progress = Callable[[str, int, int], None]


def _is_int8(artifact: Artifact) -> bool:
    return any(step.get("method", "").startswith("int8") for step in artifact.manifest.get("recipe", []))


def benchmark(artifact: Artifact | str | Path, target: Profile | str, *, runs: int = 100, warmup: int = 10,
              eval_data: Dataset | None = None, transport: str | None = None,
              transport_options: dict[str, Any] | None = None, timeout: float = 120.0, cooldown_s: float = 0.0,
              progress: Progress | None = None) -> dict[str, Any]:
    """Measure `artifact` on `target`; returns a report dict (schema_version REPORT_SCHEMA_VERSION)."""
    progress = progress or (lambda *_: None)
    art = artifact if isinstance(artifact, Artifact) else Artifact.load(artifact)
    profile = load_profile(target) if isinstance(target, str) else target
    if not profile.accepts_format(art.format):
        raise UnsupportedError(f"target '{profile.name}' does not run .{art.format} artifacts",
                               f"it accepts: {', '.join(profile.software.formats)}; compile for this target")
    if art.size_bytes > profile.hardware.storage_bytes:
        raise UnsupportedError(f"artifact is {art.size_bytes:,} B, larger than the target's storage")
    spec = art.manifest["inputs"][0]
    if eval_data is not None and tuple(eval_data.x.shape[1:]) != tuple(spec["shape"][1:]):
        raise UnsupportedError(f"eval data has samples of shape {tuple(eval_data.x.shape[1:])}, the model takes "
                               f"{tuple(spec['shape'][1:])}")

    t0 = time.perf_counter()
    with make_transport(profile, transport, transport_options) as link:
        deploy = {"connect_s": time.perf_counter() - t0}
        session, timings = link.open_session(art, timeout)
        deploy.update(timings)
        try:
            hello = session.hello()
            progress("loading", 0, 1)
            loaded = session.load(getattr(session, "remote_artifact", "artifact"))
            progress("loading", 1, 1)
            progress("benchmarking", 0, runs)
            bench = session.bench(runs=runs, warmup=warmup, cooldown_s=cooldown_s)
            progress("benchmarking", runs, runs)
            ref = art.reference()
            device_ref = session.predict(ref["inputs"])
            accuracy = _evaluate(session, eval_data, spec["shape"][0], progress) if eval_data is not None else None
            mem = session.memory()
        finally:
            session.close()
        transport_facts = link.describe()

    latency = latency_summary(bench["latencies_ns"])
    macs = art.manifest.get("model", {}).get("macs")
    estimate = device_latency_estimate(profile, macs, _is_int8(art),
                                       instructions=(bench.get("counters") or {}).get("instructions_per_inference"))
    energy = (energy_estimate(profile, estimate["latency_ms"], "the estimated device latency") if estimate else
              energy_estimate(profile, latency["p50"], f"the p50 latency measured on {hello['machine']['cpu']}"))
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "edgekit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "target": {"name": profile.name, "stands_for": profile.stands_for, "emulated": profile.emulated,
                   "description": profile.description, **transport_facts},
        "measured_on": hello["machine"],
        "artifact": {"path": str(art.path), "format": art.format, "model_file": art.manifest["model_file"],
                     "size_bytes": art.size_bytes, "sha256": art.manifest["files"][art.stored_model_file]["sha256"],
                     "recipe": art.manifest.get("recipe", []), "macs": macs,
                     "delegation": art.manifest.get("export", {}).get("delegation")},
        "latency_ms": {**latency, "warmup": bench["warmup"], "measured_on": hello["machine"]["cpu"]},
        "load_ms": loaded["load_s"] * 1e3,
        "first_inference_ms": loaded["first_inference_s"] * 1e3,
        "memory": {**mem, "limit_bytes": transport_facts.get("memory_limit_bytes")},
        "counters": bench.get("counters"),  # device-specific counts (e.g. instructions under QEMU)
        "fidelity": {"samples": int(len(ref["inputs"])), "vs_host": agreement(device_ref, ref["outputs"]),
                     "vs_float": agreement(device_ref, ref["float_outputs"]) if "float_outputs" in ref else None},
        "accuracy": accuracy,
        "energy": energy,
        "device_estimate": estimate,
        "thermal": {"before": bench.get("thermal_before"), "after": bench.get("thermal_after"),
                    "samples": bench.get("thermal_samples"), "cooldown_s": cooldown_s},
        "deploy": deploy,
    }


def _evaluate(client: Any, data: Dataset, batch: int, progress: Progress,
              chunk: int = 256) -> dict[str, Any]:
    n = len(data.x) // batch * batch
    outputs = []
    for start in range(0, n, chunk):
        outputs.append(client.predict(np.ascontiguousarray(data.x[start:min(start + chunk, n)])))
        progress("evaluating", min(start + chunk, n), n)
    result: dict[str, Any] = {"samples": n}
    if data.y is not None:
        result["top1"] = top1_accuracy(np.concatenate(outputs), data.y[:n])
    return result
