"""The host-side compiler: compress for a profile, export with the profile's exporter, write an artifact."""
from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .version import __version__
from . import modelio
from .artifact import REFERENCE, Artifact, check_output_dir, reference_arrays, write_artifact
from .agent.agent import RUNTIMES as AGENT_FORMATS
from .compress import CompressionContext, describe
from .compress import mixed as mixed_lib
from .compress import numerics as numerics_lib
from .compress.finetune import eval_mode
from .compress.quantize import Int8StaticConfig, int8_record
from .compress.steps import apply_steps, wants_sparse_storage
from .errors import InputError, UnsupportedError
from .export import exporter_for
from .modelio import Dataset
from .measure.stats import agreement
from .compress.int8_share import int8_share
from .compress.outputs import named_outputs, output_tensors
from .metrics import MacCount, count_mac_report, count_params
from .module_map import module_table
from .profiles import Profile, load_profile
from .sparse_file import encode_file

Progress = Callable[[str, int, int], None]


def _tensor_specs(values: Sequence[torch.Tensor], names: Sequence[str]) -> list[dict]:
    return [{"name": name, "shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
            for name, v in zip(names, values)]


def run_batched(model: torch.nn.Module, inputs: Sequence[torch.Tensor], batch: int) -> list[np.ndarray]:
    """Every output of `model` (flattened: compress/outputs.py) over all samples of `inputs` (one tensor per model
    input), `batch` at a time."""
    n = len(inputs[0])
    with torch.no_grad():
        runs = [output_tensors(model(*(t[i:i + batch] for t in inputs))) for i in range(0, n, batch)]
    return [torch.cat([r[k] for r in runs]).numpy() for k in range(len(runs[0]))]


InputRanges = Mapping[str, tuple[int, int]]


def _reference_inputs(examples: Sequence[torch.Tensor], names: Sequence[str], calibration: list[np.ndarray] | None,
                      ranges: InputRanges, count: int) -> list[torch.Tensor]:
    """`count` batches of reference inputs: from the calibration data when there is enough, else sampled.

    Float inputs are sampled from a standard normal. Integer inputs (token ids, masks) are drawn from their declared
    range [lo, hi), else from the range the example input spans: values outside it (e.g. token ids past the
    vocabulary) would fail inside the model, not exercise it."""
    batch = examples[0].shape[0]
    if calibration is not None and len(calibration[0]) >= batch:
        n = min(count * batch, len(calibration[0])) // batch * batch
        return [torch.from_numpy(np.ascontiguousarray(x[:n])).to(e.dtype) for x, e in zip(calibration, examples)]
    gen = torch.Generator().manual_seed(0)
    out = []
    for name, example in zip(names, examples):
        shape = (count * batch, *example.shape[1:])
        if example.dtype.is_floating_point:
            out.append(torch.randn(shape, generator=gen).to(example.dtype))
        elif example.dtype == torch.bool:
            out.append(torch.randint(0, 2, shape, generator=gen).bool())
        else:
            lo, hi = ranges.get(name) or (int(example.min()), int(example.max()) + 1)
            out.append(torch.randint(lo, hi, shape, generator=gen, dtype=example.dtype))
    return out


def _check_ranges(names: Sequence[str], examples: Sequence[torch.Tensor], ranges: InputRanges) -> None:
    for name, (lo, hi) in ranges.items():
        if name not in names:
            raise InputError(f"an input range names '{name}', the model's inputs are {', '.join(names)}")
        example = examples[list(names).index(name)]
        if example.dtype.is_floating_point:
            raise InputError(f"input '{name}' is {str(example.dtype).removeprefix('torch.')}; ranges are for integer "
                             "inputs")
        if not lo < hi:
            raise InputError(f"input range for '{name}' is empty ({lo}:{hi})", "give LO:HI with LO < HI (HI excluded)")


def _int8_numerics(compressed: torch.nn.Module, ctx: CompressionContext, host_out: list[np.ndarray],
                   float_out: list[np.ndarray], threshold: float) -> dict[str, Any]:
    """An INT8 model's agreement with FP32 on the reference inputs; for static INT8 below `threshold`, where the
    error grows (per layer, from the float model the INT8 step started from, with the quantizer it used)."""
    versus = agreement(host_out[0], float_out[0])
    result: dict[str, Any] = {"cosine_vs_fp32": round(versus["cosine"], 6), "threshold": threshold}
    if not versus["comparable"]:
        return {**result, "comparable": False, "why": versus["why"]}
    record = int8_record(compressed)
    if versus["cosine"] >= threshold or record is None or not isinstance(record.config, Int8StaticConfig):
        return result
    return numerics_lib.explain(record.float_model, ctx.example_inputs, record.quantizer, ctx.calibration_batches(8),
                                versus["cosine"], threshold)


def _file_outputs(result: Any, workdir: Path, ref_in: Sequence[torch.Tensor], host_out: list[np.ndarray],
                  batch: int) -> tuple[list[np.ndarray] | None, str | None]:
    """The compiled file's outputs on the reference inputs, run on this host with the target's runtime, and which
    runtime: an exporter's reference_fn has run it already (host_out); a .pte runs on ExecuTorch's Python runtime."""
    if result.reference_fn:
        return host_out, "LiteRT" if result.format == "tflite" else f"the {result.format} exporter's host reference"
    if result.format == "pte":
        from .export.pte_host import host_runner
        try:
            run = host_runner(workdir / result.model_file, batch)
            return run([t.numpy() for t in ref_in]), "ExecuTorch (XNNPACK)"
        except Exception as exc:  # noqa: BLE001  (a check of the file, not the compile: said, not raised)
            why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            return None, f"ExecuTorch could not run the file on this host: {why}"
    return None, None


MOSTLY_INT8 = 0.9  # below this share of MACs in int8 ops, a model is "mixed": compile warns, estimates blend


def _model_facts(int8: bool, params_before: int, params_after: int, macs_before: MacCount, macs_after: MacCount,
                 share: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest's `model`: sizes and MACs before and after, what it computes in, and how much of it is int8."""
    dtype = "int8" if int8 else "float32"
    if int8 and share is not None and share["macs"] < MOSTLY_INT8:
        dtype = "mixed"
    return {"params_before": params_before, "params": params_after, "macs_before": macs_before.macs,
            "macs": macs_after.macs, **({"macs_not_counted": macs_after.not_counted} if macs_after.not_counted else {}),
            "compute_dtype": dtype, **({"int8_share": share} if share is not None else {})}


def _warnings(model: dict[str, Any], numerics: dict[str, Any] | None, mixed: dict[str, Any] | None = None
              ) -> list[str]:
    """What a reader of the figures (the manifest's `model`, `numerics`) must know: little of an INT8 model is int8,
    MACs left uncounted, a reference that cannot judge the INT8 outputs."""
    found = []
    if mixed and mixed_lib.file_missed(mixed):
        found.append(f"mixed precision reached cosine {mixed['cosine']} in the quantized graph, but the compiled file "
                     f"reaches {mixed['file_cosine']} ({mixed['file_runtime']} on this host), short of min_cosine "
                     f"{mixed['min_cosine']}: the target's kernels compute something the graph does not")
    elif mixed and not mixed["reached"]:
        found.append(f"mixed precision kept {len(mixed['kept_float'])} layers in float32 and reached cosine "
                     f"{mixed['cosine']}, short of min_cosine {mixed['min_cosine']}")
    if model["compute_dtype"] == "mixed" and not mixed:  # asked for, it is no news
        share = model["int8_share"]
        layers = ", ".join(f"{f['layer']} ({f['op']})" for f in share["float_layers"][:3])
        found.append(f"only {share['macs']:.1%} of the MACs and {share['weights']:.1%} of the weights run in int8; "
                     f"the quantizer left {layers} in float32")
    if model.get("macs_not_counted"):
        found.append(f"MACs not counted for op(s) {', '.join(model['macs_not_counted'])}: the MAC figure and the "
                     "estimates built on it are lower bounds")
    if numerics and numerics.get("comparable") is False:
        found.append(f"INT8 cosine vs FP32 is meaningless: {numerics['why']}")
    return found


def _check_float_layers(profile: Profile, kept: Sequence[str], search: dict[str, Any] | None = None) -> None:
    """Refuse layers kept in float on a target without float kernels, naming them (and, after a mixed-precision
    search, the cosine that needed them)."""
    if not kept or "float32" in profile.software.dtypes:
        return
    why = (f"INT8 reaches cosine {search['cosine_all_int8']} against FP32, below min_cosine {search['min_cosine']}, "
           f"and reaching it keeps {', '.join(kept)} in float32" if search else
           f"keep_float keeps {', '.join(kept)} in float32")
    raise UnsupportedError(f"int8: {why}; target '{profile.name}' runs int8 only (no float kernels)",
                           "lower min_cosine, or drop keep_float, for this target" if search else
                           "drop keep_float for this target")


def required_dtypes(recipe: Sequence[Any]) -> set[str]:
    """What the recipe's steps make the target compute in (a config's `dtype`, e.g. "int8")."""
    return {c.dtype for c in recipe if getattr(c, "dtype", None)}


def compile_model(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...] | torch.Tensor,
                  target: Profile | str, outdir: str | Path, *, recipe: Sequence[Any] = (),
                  calibration: Dataset | None = None, progress: Progress | None = None, reference_count: int = 8,
                  sparse_storage: bool | None = None, input_names: Sequence[str] | None = None,
                  input_ranges: InputRanges | None = None, output_names: Sequence[str] | None = None,
                  force: bool = False, numerics_threshold: float = numerics_lib.DEFAULT_THRESHOLD,
                  int8_io: bool = True) -> Artifact:
    """Compress `model` with `recipe` (configs applied in order), export it for `target`, write `outdir`.

    example_inputs: one tensor per model input (fixed shapes; the first dimension is the batch).
    input_names: default the names of `model.forward`'s arguments; data files name their arrays after them.
    input_ranges: {input name: (lo, hi)} valid values of integer inputs (hi excluded), used where no data is given.
    int8_io: an INT8 file keeps int8 tensors at its boundary where the target backend's file has them (.tflite,
    with scale and zero point in the manifest); False puts float32 there (QUANTIZE/DEQUANTIZE inside the file).
    force: replace a non-empty `outdir` that is not an edgekit artifact (otherwise refused: nothing is deleted).
    numerics_threshold: when static INT8's outputs fall below this cosine against FP32, the manifest names the first
    layers where the quantization error grows (edgekit/compress/numerics.py).
    sparse_storage: store the model file bitmask-encoded (edgekit/sparse_file.py) so zeroed weights cost a bit
    each; None = when a recipe step asks for it (storage = "sparse") or the compressed weights are mostly zero.
    The manifest records one report per recipe step (params, MACs, size, quality before and after)."""
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    example_inputs = modelio.check_example_inputs(example_inputs, "compile_model")
    if calibration is not None and not isinstance(calibration, Dataset):
        raise InputError(f"calibration must be an edgekit.Dataset, got {type(calibration).__name__}",
                         "wrap arrays as edgekit.Dataset(x, y) or use edgekit.load_data(path)")
    if target is None or outdir is None:
        raise InputError("compile_model needs a target and an output directory")
    profile = load_profile(target) if isinstance(target, str) else target
    check_output_dir(outdir, force)
    exporter = exporter_for(profile)  # fail before any expensive work
    # Canonical strides: a tensor with a size-1 channel dim can look channels-last to torch.export, which would
    # then bake a channels-last dim order into the program and reject ordinary inputs at run time.
    example_inputs = tuple(t.clone(memory_format=torch.contiguous_format) for t in example_inputs)
    names = tuple(input_names) if input_names else modelio.input_names(model, len(example_inputs))
    if len(names) != len(example_inputs) or len(set(names)) != len(names):
        raise InputError(f"{len(example_inputs)} example inputs but input names {list(names)}")
    ranges = dict(input_ranges or {})
    _check_ranges(names, example_inputs, ranges)
    shapes = [tuple(t.shape) for t in example_inputs]
    dtypes = [str(t.dtype).removeprefix("torch.") for t in example_inputs]
    cal_arrays = calibration.for_inputs(names, shapes, "calibration", dtypes) if calibration is not None else None
    missing = required_dtypes(recipe) - set(profile.software.dtypes)
    if missing:
        raise UnsupportedError(f"target '{profile.name}' does not run {', '.join(sorted(missing))} "
                               f"(dtypes {list(profile.software.dtypes)})")
    _check_float_layers(profile, [name for step in recipe for name in getattr(step, "keep_float", ())])
    exporter.check(model, example_inputs, profile, recipe)

    model = eval_mode(model)  # a .pt2's module refuses eval(): it is an inference graph already
    ref_in = _reference_inputs(example_inputs, names, cal_arrays, ranges, reference_count)
    batch = example_inputs[0].shape[0]
    try:
        float_out = run_batched(model, ref_in, batch)
    except InputError:  # outputs edgekit cannot take (an int): said as such
        raise
    except Exception as exc:  # the user's model rejected inputs shaped like its own examples
        raise InputError(f"the model fails on inputs shaped like its example inputs: {type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                         "check the example inputs (and --input-range for integer inputs)") from exc
    macs_before, params_before = count_mac_report(model, example_inputs), count_params(model)

    ctx = CompressionContext(example_inputs=example_inputs, calibration=cal_arrays,
                             labels=None if calibration is None else calibration.y,
                             progress=progress or (lambda *_: None), input_names=names, int8_backend=exporter.int8)
    compressed, steps = apply_steps(model, recipe, ctx)
    record = int8_record(compressed)
    mixed = record.mixed if record is not None else None
    if mixed:
        _check_float_layers(profile, mixed["kept_float"], mixed)
    with torch.no_grad():
        named = named_outputs(compressed(*example_inputs))
    outputs = [t for _, t in named]
    out_names = tuple(output_names) if output_names else tuple(name for name, _ in named)
    if len(out_names) != len(outputs):
        raise InputError(f"the model returns {len(outputs)} outputs but {len(out_names)} output names were given")
    macs_after, params_after = count_mac_report(compressed, example_inputs), count_params(compressed)
    int8 = "int8" in required_dtypes(recipe)
    share = int8_share(compressed, example_inputs) if int8 else None
    model_facts = {**_model_facts(int8, params_before, params_after, macs_before, macs_after, share),
                   "modules": module_table(compressed, example_inputs)}

    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as tmp:
        workdir = Path(tmp)
        result = exporter.export(compressed, example_inputs, workdir, profile, int8_io=int8_io)
        host_out = (result.reference_fn([t.numpy() for t in ref_in]) if result.reference_fn
                    else run_batched(compressed, ref_in, batch))
        files, encoded = dict(result.files), {}
        if result.format in AGENT_FORMATS and wants_sparse_storage(sparse_storage, recipe, compressed):
            stored = encode_file(result.files[result.model_file], workdir)
            if stored is not None:  # else the zeros are too few to pay for decoding: stored dense
                del files[result.model_file]
                files[stored[0].name], encoded = stored[0], {result.model_file: stored[1]}
        model_bytes = files[encoded[result.model_file]["file"] if encoded else result.model_file].stat().st_size
        if model_bytes > profile.hardware.storage_bytes:
            raise UnsupportedError(f"the model file is {model_bytes:,} B, target '{profile.name}' has "
                                   f"{profile.hardware.storage_bytes:,.0f} B of storage")
        numerics = _int8_numerics(compressed, ctx, host_out, float_out, numerics_threshold) if int8 else None
        if mixed:  # the search judged the graph; judge the file the target runs too (compress/mixed.py)
            file_out, runtime = _file_outputs(result, workdir, ref_in, host_out, batch)
            mixed = mixed_lib.judge_file(mixed, file_out, float_out, runtime)
        np.savez(workdir / REFERENCE, **reference_arrays([t.numpy() for t in ref_in], host_out, float_out))
        manifest = {
            "edgekit_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "format": result.format,
            "model_file": result.model_file,
            "inputs": _tensor_specs(example_inputs, names),
            "outputs": _tensor_specs(outputs, out_names),
            "target": {"name": profile.name, "stands_for": profile.stands_for},
            "recipe": [describe(c) for c in recipe],
            "model": model_facts,
            "export": result.info,
            **({"numerics": numerics} if numerics else {}),
            **({"mixed_precision": mixed} if mixed else {}),
            **({"warnings": warnings} if (warnings := _warnings(model_facts, numerics, mixed)) else {}),
            **({"encoded": encoded} if encoded else {}),
            "steps": steps,
            **({"input_ranges": {k: list(v) for k, v in ranges.items()}} if ranges else {}),
            "reference": {"file": REFERENCE, "count": int(len(ref_in[0])),
                          "outputs": "host outputs of the exported model" if result.reference_fn
                          else "host PyTorch outputs of the compressed model",
                          "float_outputs": "host PyTorch outputs of the uncompressed model"},
        }
        return write_artifact(outdir, {**files, REFERENCE: workdir / REFERENCE}, manifest, force=force)


