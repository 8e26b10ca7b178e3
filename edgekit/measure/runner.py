"""Deploy an artifact to a target (a session opened over the target's transport), drive the session, and build
the report."""
from __future__ import annotations

import datetime as _dt
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..version import __version__
from ..artifact import Artifact, Reference
from ..energy.bench import BASELINE_S, check_meter, energy_from_agent, measured_energy, metered, on_board_meter
from ..energy.meter import opened_meter
from ..errors import InputError, UnsupportedError
from ..modelio import Dataset
from ..profiles import Profile, load_profile
from ..session import DeviceSession, open_session
from ..transport import make_transport
from .op_profile import PROFILE_RUNS, mapper_for, ops_section
from .estimates import counts_device_isa, device_latency_estimate, energy_estimate
from .stats import agreement, latency_summary, top1_accuracy

REPORT_SCHEMA_VERSION = 1
Progress = Callable[[str, int, int], None]


def _int8_share(artifact: Artifact) -> float:
    """The share of the model's MACs that run in int8 (the manifest's measure, else all or none by its dtype)."""
    model = artifact.manifest.get("model", {})
    share = model.get("int8_share")
    return share["macs"] if share else float(model.get("compute_dtype") == "int8")


def benchmark(artifact: Artifact | str | Path, target: Profile | str, *, runs: int = 100, warmup: int = 10,
              eval_data: Dataset | None = None, transport: str | None = None,
              transport_options: dict[str, Any] | None = None, timeout: float = 120.0, cooldown_s: float = 0.0,
              progress: Progress | None = None, meter: str | None = None, profile_ops: bool = False) -> dict[str, Any]:
    """Measure `artifact` on `target`; returns a report dict (schema_version REPORT_SCHEMA_VERSION).

    profile_ops: after the timed runs, profile PROFILE_RUNS more per operator with the runtime's own profiler; the
    report's `ops` section maps each op to the module of the model it came from (docs/report.md).

    meter: a power meter on the device's supply (`ppk2:/dev/ttyACM1:supply=3.3`, `joulescope`, ...; on a Linux board
    `ina219:1:0x40`, which the agent samples there): the energy is then measured over the timed inferences
    (docs/energy.md) instead of estimated."""
    progress = progress or (lambda *_: None)
    if eval_data is not None and not isinstance(eval_data, Dataset):
        raise InputError(f"eval_data must be an edgekit.Dataset, got {type(eval_data).__name__}",
                         "wrap arrays as edgekit.Dataset(x, y) or use edgekit.load_data(path)")
    art = loaded_artifact(artifact)
    if art.manifest.get("generation"):
        raise InputError(f"{art.path} is a cached decoder: its calls take a prompt and positions, not samples",
                         "measure it with: edgekit bench ART --generate N")
    profile = deployable(art, target)
    specs = art.manifest["inputs"]
    eval_inputs = (eval_data.for_inputs([s["name"] for s in specs], [s["shape"] for s in specs], "eval",
                                        [s.get("dtype", "float32") for s in specs])
                   if eval_data is not None else None)
    if eval_data is not None:
        check_labels(eval_data, art.manifest["outputs"][0]["shape"])
    check_meter(meter, profile.family)
    mapper = mapper_for(art.format) if profile_ops else None  # a format with no profiler is said before device time
    board_meter = on_board_meter(meter)  # sampled by the agent on the board, not opened here

    # The meter is opened before any device time (a meter that is not there is said at once) and closed however
    # the bench ends.
    with opened_meter(meter) if meter and not board_meter else nullcontext(None) as power_meter, \
            deployed(art, profile, transport, transport_options, timeout, progress) as (session, deploy,
                                                                                       transport_facts, hello, loaded):
        progress("benchmarking", 0, runs)
        with metered(power_meter) if power_meter else nullcontext([]) as captures:
            bench = session.bench(runs=runs, warmup=warmup, cooldown_s=cooldown_s,
                                  **({"meter": board_meter, "meter_baseline_s": BASELINE_S} if board_meter else {}))
        progress("benchmarking", runs, runs)
        ref = art.reference()
        device_ref = session.predict(ref.inputs)
        accuracy = (_evaluate(session, eval_inputs, eval_data.y, specs[0]["shape"][0], progress)
                    if eval_data is not None else None)
        mem = session.memory()  # before a profile: a profiler's second copy of the model is not the app's memory
        ops = None
        if mapper is not None:
            progress("profiling", 0, PROFILE_RUNS)
            raw = session.profile(PROFILE_RUNS)
            ops = ops_section(art, raw, mapper(art, raw))
            progress("profiling", PROFILE_RUNS, PROFILE_RUNS)

    latency = latency_summary(bench["latencies_ns"])
    model = art.manifest.get("model", {})
    counted = (bench.get("counters") or {}).get("instructions_per_inference")
    estimate = device_latency_estimate(profile, model.get("macs"), _int8_share(art),
                                       macs_not_counted=list(model.get("macs_not_counted", {})),
                                       instructions=counted if counts_device_isa(profile, hello["machine"].get("arch"))
                                       else None)
    energy = (measured_energy(captures[0]) if captures else
              energy_from_agent(board_meter, bench["meter"], bench["warmup"]) if board_meter else
              energy_estimate(profile, estimate["latency_ms"], "the estimated device latency") if estimate else
              energy_estimate(profile, latency["p50"], f"the p50 latency measured on {hello['machine']['cpu']}"))
    return {
        **report_head(art, profile, hello, transport_facts),
        "latency_ms": {**latency, "warmup": bench["warmup"], "measured_on": hello["machine"]["cpu"],
                       **time_base(transport_facts, hello["machine"])},
        "load_ms": loaded["load_s"] * 1e3,
        "first_inference_ms": loaded["first_inference_s"] * 1e3,
        "runtime": loaded.get("runtime") or ({"name": hello["runtime"]} if "runtime" in hello else None),
        "memory": {**mem, "limit_bytes": transport_facts.get("memory_limit_bytes")},
        "counters": bench.get("counters"),  # device-specific counts (e.g. instructions under QEMU)
        "fidelity": _fidelity(art, ref, device_ref),
        "accuracy": accuracy,
        "energy": energy,
        "device_estimate": estimate,
        "thermal": {"before": bench.get("thermal_before"), "after": bench.get("thermal_after"),
                    "samples": bench.get("thermal_samples"), "cooldown_s": cooldown_s},
        "deploy": deploy,
        **({"ops": ops} if ops is not None else {}),
    }


def loaded_artifact(artifact: Artifact | str | Path) -> Artifact:
    """`artifact` as a verified Artifact: one already loaded, or the folder it is in."""
    if isinstance(artifact, Artifact):
        return artifact
    if not isinstance(artifact, (str, Path)):
        raise InputError(f"the artifact must be an edgekit.Artifact or the path of its folder, got "
                         f"{type(artifact).__name__}", "pass the folder `edgekit compile -o` wrote")
    return Artifact.load(artifact)


def deployable(art: Artifact, target: Profile | str) -> Profile:
    """The target's profile, once it is clear that the target can hold and run `art` (before any device time)."""
    if not isinstance(target, (Profile, str)):
        raise InputError(f"the target must be a profile name or an edgekit.Profile, got {type(target).__name__}",
                         "see `edgekit targets list`")
    profile = load_profile(target) if isinstance(target, str) else target
    if not profile.accepts_format(art.format):
        raise UnsupportedError(f"target '{profile.name}' does not run .{art.format} artifacts",
                               f"it accepts: {', '.join(profile.software.formats)}; compile for this target")
    if art.size_bytes > profile.hardware.storage_bytes:
        raise UnsupportedError(f"artifact is {art.size_bytes:,} B, larger than the target's storage")
    return profile


def report_head(art: Artifact, profile: Profile, hello: dict[str, Any], transport_facts: dict[str, Any]
                ) -> dict[str, Any]:
    """The sections every report starts with: versions, the target as deployed, the machine, the artifact."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "edgekit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "target": {"name": profile.name, "stands_for": profile.stands_for, "emulated": profile.emulated,
                   "description": profile.description, **transport_facts},
        "measured_on": hello["machine"],
        "artifact": {"path": str(art.path), "format": art.format, "model_file": art.manifest["model_file"],
                     "size_bytes": art.size_bytes, "sha256": art.manifest["files"][art.stored_model_file]["sha256"],
                     "recipe": art.manifest.get("recipe", []), "macs": art.manifest.get("model", {}).get("macs"),
                     **{k: art.manifest["model"][k] for k in ("macs_not_counted", "compute_dtype", "int8_share")
                        if k in art.manifest.get("model", {})},
                     "delegation": art.manifest.get("export", {}).get("delegation"),
                     "inputs": art.manifest["inputs"], "outputs": art.manifest["outputs"],
                     "numerics": art.manifest.get("numerics"),
                     **({"mixed_precision": art.manifest["mixed_precision"]}
                        if "mixed_precision" in art.manifest else {})},
    }


@contextmanager
def deployed(art: Artifact, profile: Profile, transport: str | None, transport_options: dict[str, Any] | None,
             timeout: float, progress: Progress
             ) -> Iterator[tuple[DeviceSession, dict[str, float], dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Open the target's transport, deploy `art`, start what runs it, greet it and load the artifact; yields
    (session, deploy timings, facts about the transport and deployment, hello, load answer). The session is closed
    and the link released however the block ends."""
    t0 = time.perf_counter()
    with make_transport(profile, transport, transport_options) as link:
        deploy = {"connect_s": time.perf_counter() - t0, **link.timings}
        session, timings = open_session(link, art, timeout)
        deploy.update(timings)
        try:
            hello = session.hello()
            progress("loading", 0, 1)
            loaded = session.load()
            progress("loading", 1, 1)
            yield session, deploy, {**link.describe(), **session.facts}, hello, loaded
        finally:
            session.close()


def time_base(transport_facts: dict[str, Any], machine: dict[str, Any]) -> dict[str, str]:
    """What the latencies are: wall-clock of the machine that ran them, or an emulator's virtual time."""
    if transport_facts.get("virtual_time"):
        board = transport_facts.get("board") or transport_facts.get("cpu") or machine.get("cpu")
        return {"time_base": "emulated-virtual-time",
                "time_base_label": f"emulated virtual time on {board} (-icount: 1 ns = 1 instruction)"}
    return {"time_base": "wall-clock", "time_base_label": f"wall-clock on {machine.get('cpu')}"}


def _fidelity(art: Artifact, ref: Reference, device: list[np.ndarray]) -> dict[str, Any]:
    """Device outputs against the host's: the first output at the top level, every output under 'outputs'."""
    names = [o["name"] for o in art.manifest["outputs"]]
    per_output = []
    for k, (name, host) in enumerate(zip(names, ref.outputs)):
        floats = ref.float_outputs[k] if ref.float_outputs and k < len(ref.float_outputs) else None
        per_output.append({"name": name, "vs_host": agreement(device[k], host),
                           "vs_float": agreement(device[k], floats) if floats is not None else None})
    return {"samples": ref.count, "vs_host": per_output[0]["vs_host"], "vs_float": per_output[0]["vs_float"],
            **({"outputs": per_output} if len(per_output) > 1 else {})}


def check_labels(data: Dataset, output_shape: list[int]) -> None:
    """Labels must be class indices of the first output, checked before any device time is spent."""
    if data.y is None:
        return
    y = np.asarray(data.y)
    classes = int(np.prod(output_shape[1:])) if len(output_shape) > 1 else 1
    if len(y) == 0:
        raise InputError(f"{data.source} has no samples")
    if y.ndim != 1:
        raise InputError(f"{data.source}: 'y' has shape {list(y.shape)}; labels are one class index per sample",
                         "store y = one_hot.argmax(axis=1)" if y.ndim == 2 else None)
    if y.dtype.kind not in "iuf":  # class names where indices belong, say
        kind = {"U": "text", "S": "bytes", "b": "true/false"}.get(y.dtype.kind, str(y.dtype))
        raise InputError(f"{data.source}: 'y' holds {kind} values; labels are integer class indices",
                         "store y as integers, e.g. the class names' positions in your list of classes")
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise InputError(f"{data.source}: 'y' holds fractional values; labels are integer class indices")
    if y.min() < 0 or y.max() >= classes:
        raise InputError(f"{data.source}: labels must be class indices in 0..{classes - 1} (the first output has "
                         f"{classes} values), found {y.min()}..{y.max()}")


def _evaluate(session: DeviceSession, inputs: list[np.ndarray], labels: np.ndarray | None, batch: int,
              progress: Progress, chunk: int = 256) -> dict[str, Any]:
    n = len(inputs[0]) // batch * batch
    outputs = []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        outputs.append(session.predict([np.ascontiguousarray(x[start:stop]) for x in inputs])[0])
        progress("evaluating", stop, n)
    result: dict[str, Any] = {"samples": n}
    if labels is not None:
        result["top1"] = top1_accuracy(np.concatenate(outputs), np.asarray(labels[:n]).astype(np.int64))
    return result
