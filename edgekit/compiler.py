"""The host-side compiler: compress for a profile, export with the profile's exporter, write an artifact."""
from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import __version__
from .artifact import REFERENCE, Artifact, write_artifact
from .agent.agent import RUNTIMES as AGENT_FORMATS
from .compress import CompressionContext, describe
from .compress.finetune import eval_mode
from .compress.steps import apply_steps, wants_sparse_storage
from .errors import InputError, UnsupportedError
from .export import exporter_for
from .modelio import Dataset, check_sample_shape
from .profiles import Profile, load_profile
from .sparse_file import encode_file

Progress = Callable[[str, int, int], None]


def count_macs(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass, from PyTorch's FLOP counter (2 FLOPs = 1 MAC)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*example_inputs)
    return counter.get_total_flops() // 2


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())


def _tensor_specs(values: Sequence[torch.Tensor], prefix: str, names: Sequence[str] | None = None) -> list[dict]:
    return [{"name": names[i] if names else f"{prefix}{i}", "shape": list(v.shape),
             "dtype": str(v.dtype).removeprefix("torch.")} for i, v in enumerate(values)]


def _as_outputs(result: Any) -> list[torch.Tensor]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _run_each(model: torch.nn.Module, inputs: torch.Tensor, batch: int) -> np.ndarray:
    with torch.no_grad():
        outs = [_as_outputs(model(inputs[i:i + batch]))[0] for i in range(0, len(inputs), batch)]
    return torch.cat(outs).numpy()


def _reference_inputs(example: torch.Tensor, calibration: Dataset | None, count: int) -> torch.Tensor:
    batch = example.shape[0]
    if calibration is not None and len(calibration.x) >= batch:
        n = min(count, len(calibration.x)) // batch * batch
        return torch.from_numpy(np.ascontiguousarray(calibration.x[:n])).to(example.dtype)
    gen = torch.Generator().manual_seed(0)
    return torch.randn((count * batch, *example.shape[1:]), generator=gen).to(example.dtype)


def compile_model(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], target: Profile | str,
                  outdir: str | Path, *, recipe: Sequence[Any] = (), calibration: Dataset | None = None,
                  progress: Progress | None = None, reference_count: int = 8,
                  sparse_storage: bool | None = None) -> Artifact:
    """Compress `model` with `recipe` (configs applied in order), export it for `target`, write `outdir`.

    sparse_storage: store the model file bitmask-encoded (edgekit/sparse_file.py) so zeroed weights cost a bit
    each; None = when a recipe step asks for it (storage = "sparse") or the compressed weights are mostly zero.
    The manifest records one report per recipe step (params, MACs, size, quality before and after)."""
    profile = load_profile(target) if isinstance(target, str) else target
    exporter = exporter_for(profile)  # fail before any expensive work
    # Canonical strides: a tensor with a size-1 channel dim can look channels-last to torch.export, which would
    # then bake a channels-last dim order into the program and reject ordinary inputs at run time.
    example_inputs = tuple(t.clone(memory_format=torch.contiguous_format) for t in example_inputs)
    if len(example_inputs) != 1:
        raise UnsupportedError(f"the model takes {len(example_inputs)} inputs; edgekit handles one input tensor today")
    example = example_inputs[0]
    if calibration is not None:
        check_sample_shape(calibration, example, "calibration")
    if any(getattr(c, "method", "").startswith("int8") for c in recipe) and "int8" not in profile.software.dtypes:
        raise UnsupportedError(f"target '{profile.name}' does not run int8 (dtypes {list(profile.software.dtypes)})")

    model = eval_mode(model)  # a .pt2's module refuses eval(): it is an inference graph already
    ref_in = _reference_inputs(example, calibration, reference_count)
    batch = example.shape[0]
    float_out = _run_each(model, ref_in, batch)
    macs_before, params_before = count_macs(model, example_inputs), count_params(model)

    ctx = CompressionContext(example_inputs=example_inputs,
                             calibration=None if calibration is None else calibration.x,
                             labels=None if calibration is None else calibration.y,
                             progress=progress or (lambda *_: None))
    own = [c for c in recipe if exporter.applies_itself(c)]
    compressed, steps = apply_steps(model, [c for c in recipe if c not in own], ctx)
    with torch.no_grad():
        outputs = _as_outputs(compressed(*example_inputs))
    macs_after, params_after = count_macs(compressed, example_inputs), count_params(compressed)

    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as tmp:
        workdir = Path(tmp)
        result = exporter.export(compressed, example_inputs, workdir, profile, own_configs=own, ctx=ctx)
        host_out = (result.reference_fn(ref_in.numpy()) if result.reference_fn
                    else _run_each(compressed, ref_in, batch))
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
        np.savez(workdir / REFERENCE, inputs=ref_in.numpy(), outputs=host_out, float_outputs=float_out)
        manifest = {
            "edgekit_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "format": result.format,
            "model_file": result.model_file,
            "inputs": _tensor_specs(example_inputs, "input_"),
            "outputs": _tensor_specs(outputs, "output_"),
            "target": {"name": profile.name, "stands_for": profile.stands_for},
            "recipe": [describe(c) for c in recipe],
            "model": {"params_before": params_before, "params": params_after, "macs_before": macs_before,
                      "macs": macs_after},
            "export": result.info,
            **({"encoded": encoded} if encoded else {}),
            "steps": steps,
            "reference": {"file": REFERENCE, "count": int(len(ref_in)),
                          "outputs": "host outputs of the exported model" if result.reference_fn
                          else "host PyTorch outputs of the compressed model",
                          "float_outputs": "host PyTorch outputs of the uncompressed model"},
        }
        return write_artifact(outdir, {**files, REFERENCE: workdir / REFERENCE}, manifest)


