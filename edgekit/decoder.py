"""Compiling a cached decoder: a language model that generates token by token with its KV cache inside.

A cached decoder is a module with integer attributes `vocab_size` and `max_seq_len` whose forward takes
`(tokens (1, T) int64, input_pos (T,) int64)` and returns the last token's logits `(1, vocab_size)`, keeping its
KV cache in buffers (edgekit/models/llama.py is one). Called with tokens alone it must return logits for every
position (causal, no cache): that is how calibration (GPTQ) and perplexity see it.

The program is one ExecuTorch method with a dynamic T: one call over the prompt (prefill), then one call per new
token (decode); the cache buffers become the program's mutable state. Quantized weights use XNNPACK's kernels
(export/xnnpack_weights.py) and, when the recipe quantizes, the token embedding is stored as int8 rows.
"""
from __future__ import annotations

import copy
import datetime as _dt
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .artifact import REFERENCE, Artifact, check_output_dir, reference_arrays, write_artifact
from .compress import CompressionContext, describe
from .compress.int4 import Int4WeightOnlyConfig
from .compress.gptq import GptqInt4Config
from .compress.int8_token import Int8DynamicTokenConfig
from .compress.steps import apply_steps
from .errors import InputError, UnsupportedError
from .export import exporter_for
from .export.xnnpack_weights import int4_for_xnnpack, int8_embeddings
from .modelio import Dataset
from .profiles import Profile, load_profile
from .version import __version__

Progress = Callable[[str, int, int], None]
# Methods that rewrite modules (so the cached forward survives them); graph-capturing ones (PT2E INT8, pruning
# of an exported graph) would freeze the full-sequence forward instead.
DECODER_METHODS = (Int4WeightOnlyConfig, GptqInt4Config, Int8DynamicTokenConfig)
INPUT_NAMES = ("tokens", "input_pos")
DEFAULT_REFERENCE_TOKENS = 64


def is_cached_decoder(model: Any) -> bool:
    """Whether `model` declares the cached-decoder calling convention (see the module docstring)."""
    return all(isinstance(getattr(model, a, None), int) and not isinstance(getattr(model, a), bool)
               for a in ("vocab_size", "max_seq_len"))


@torch.no_grad()
def greedy_tokens(model: torch.nn.Module, prompt: Sequence[int], new_tokens: int) -> list[int]:
    """Greedy generation the way the device does it: one prefill call, then one call per new token."""
    logits = model(torch.tensor([list(prompt)]), torch.arange(len(prompt)))
    out = [int(logits.argmax(-1))]
    for i in range(new_tokens - 1):
        logits = model(torch.tensor([out[-1:]]), torch.tensor([len(prompt) + i]))
        out.append(int(logits.argmax(-1)))
    return out


def default_prompt(vocab_size: int, length: int, seed: int = 0) -> list[int]:
    return torch.randint(0, vocab_size, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


def _check(model: torch.nn.Module, recipe: Sequence[Any], prompt: Sequence[int], reference_tokens: int | None) -> int:
    """Refuse what cannot work, before any work; returns how many reference tokens the host generates (as many as
    the context leaves room for after the prompt, up to DEFAULT_REFERENCE_TOKENS, unless the caller asked)."""
    for config in recipe:
        if not isinstance(config, DECODER_METHODS):
            raise UnsupportedError(f"recipe step '{getattr(config, 'method', config)}' cannot be applied to a cached "
                                   "decoder", "use int4-rtn, int4-gptq (symmetric) or int8-dynamic-token")
    if len(recipe) > 1:  # every decoder method quantizes the weights: a second one would re-quantize quantized ones
        raise UnsupportedError(f"the recipe quantizes the decoder's weights "
                               f"{'twice' if len(recipe) == 2 else f'{len(recipe)} times'} "
                               f"({', then '.join(c.method for c in recipe)})", "keep one quantization step")
    if not prompt or any(not 0 <= int(t) < model.vocab_size for t in prompt):
        raise InputError(f"the prompt must be a non-empty list of token ids in 0..{model.vocab_size - 1}")
    context = model.max_seq_len
    if len(prompt) >= context:
        raise InputError(f"the prompt ({len(prompt)} tokens) leaves no room in the decoder's context of {context}",
                         f"use a prompt of at most {context - 1} tokens")
    room = context - len(prompt)
    if reference_tokens is None:
        return min(DEFAULT_REFERENCE_TOKENS, room)
    if reference_tokens < 1:
        raise InputError(f"reference_tokens must be at least 1, got {reference_tokens}")
    if reference_tokens > room:
        raise InputError(f"prompt ({len(prompt)}) + reference tokens ({reference_tokens}) exceed the decoder's "
                         f"context of {context}", f"ask for at most {room} reference tokens after this prompt")
    return reference_tokens


def _token_windows(data: Dataset, vocab_size: int) -> np.ndarray:
    """The calibration token windows, (N, L) int64 ids in the vocabulary."""
    arrays = data.arrays
    x = arrays.get("x", arrays.get("tokens"))
    if x is None or len(arrays) != 1:
        raise InputError(f"calibration data ({data.source}) for a decoder is one array of token windows, "
                         f"'x' or 'tokens', shaped (N, L); found {', '.join(arrays)}")
    if x.ndim != 2 or x.dtype.kind not in "iu" or x.size == 0:
        raise InputError(f"calibration token windows must be integer ids shaped (N, L), got {x.dtype} {list(x.shape)}")
    if x.min() < 0 or x.max() >= vocab_size:
        raise InputError(f"calibration token ids must lie in 0..{vocab_size - 1}, found {x.min()}..{x.max()}")
    return x.astype(np.int64)


def compile_decoder(model: torch.nn.Module, target: Profile | str, outdir: str | Path, *,
                    recipe: Sequence[Any] = (), calibration: Dataset | None = None,
                    prompt: Sequence[int] | None = None, prompt_len: int = 32, reference_tokens: int | None = None,
                    progress: Progress | None = None, force: bool = False) -> Artifact:
    """Compress a cached decoder with `recipe`, export prefill + decode to a .pte for `target`, write `outdir`.

    calibration: token windows (N, L) int64 under 'x' (or 'tokens'), used by GPTQ; prompt: the reference prompt
    (default `prompt_len` seeded random ids). The manifest's "generation" section holds the host's greedy tokens
    for that prompt (`reference_tokens` of them; default as many as the context holds after the prompt, up to
    DEFAULT_REFERENCE_TOKENS) from the compressed model and from the float one."""
    profile = load_profile(target) if isinstance(target, str) else target
    check_output_dir(outdir, force)
    exporter = exporter_for(profile)
    if exporter.format != "pte":
        raise UnsupportedError(f"a cached decoder is compiled to an ExecuTorch .pte (prefill and decode with its KV "
                               f"cache); target '{profile.name}' takes .{exporter.format}",
                               "compile it for a phone target (pixel8, emu-phone)")
    prompt = list(prompt) if prompt is not None else default_prompt(model.vocab_size, prompt_len)
    reference_tokens = _check(model, recipe, prompt, reference_tokens)
    exporter.check(model, (torch.tensor([prompt]),), profile, recipe)
    progress = progress or (lambda *_: None)
    # Our copy: export needs no gradients (an in-place cache write to a leaf that wants one is refused).
    model = copy.deepcopy(model).eval().requires_grad_(False)

    windows = _token_windows(calibration, model.vocab_size) if calibration is not None else None
    example_window = torch.from_numpy(windows[:1]) if windows is not None else torch.tensor([prompt])
    ctx = CompressionContext(example_inputs=(example_window,), calibration=windows, progress=progress,
                             input_names=("tokens",))
    progress("host reference (float)", 0, 1)
    float_tokens = greedy_tokens(model, prompt, reference_tokens)
    compressed, steps = apply_steps(model, recipe, ctx)
    int4_for_xnnpack(compressed)  # the host reference below then computes exactly what the device computes
    embeddings = "int8, one scale per row" if recipe and int8_embeddings(compressed) else "float32"
    progress("host reference (compressed)", 0, 1)
    host_tokens = greedy_tokens(compressed, prompt, reference_tokens)
    example = (torch.tensor([prompt]), torch.arange(len(prompt)))
    with torch.no_grad():
        host_logits = compressed(*example).numpy()
        float_logits = model(*example).numpy()

    progress("exporting", 0, 1)
    seq = torch.export.Dim("T", min=1, max=model.max_seq_len)
    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as tmp:
        workdir = Path(tmp)
        result = exporter.export(compressed, example, workdir, profile, dynamic_shapes=({1: seq}, {0: seq}))
        progress("exporting", 1, 1)
        model_bytes = result.files[result.model_file].stat().st_size
        if model_bytes > profile.hardware.storage_bytes:
            raise UnsupportedError(f"the model file is {model_bytes:,} B, target '{profile.name}' has "
                                   f"{profile.hardware.storage_bytes:,.0f} B of storage")
        np.savez(workdir / REFERENCE, **reference_arrays([t.numpy() for t in example], [host_logits], [float_logits]))
        cache = [b for n, b in compressed.named_buffers() if n.endswith(("k_cache", "v_cache"))]
        manifest = {
            "edgekit_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "format": result.format,
            "model_file": result.model_file,
            "inputs": [{"name": "tokens", "shape": [1, len(prompt)], "dtype": "int64", "dynamic": {"1": "T"}},
                       {"name": "input_pos", "shape": [len(prompt)], "dtype": "int64", "dynamic": {"0": "T"}}],
            "outputs": [{"name": "logits", "shape": [1, model.vocab_size], "dtype": "float32"}],
            "target": {"name": profile.name, "stands_for": profile.stands_for},
            "recipe": [describe(c) for c in recipe],
            "model": {"params": sum(p.numel() for p in model.parameters()),
                      "compute_dtype": "int8" if recipe else "float32",
                      **({"describe": model.describe()} if hasattr(model, "describe") else {})},
            "generation": {
                "vocab_size": model.vocab_size, "max_seq_len": model.max_seq_len,
                "calls": "forward(tokens (1, T), input_pos (T,)) -> logits of the last token (1, vocab); "
                         "T = prompt length for the prefill, 1 per decoded token",
                "kv_cache_bytes": sum(b.numel() * b.element_size() for b in cache),
                "weights": _weights(recipe), "embedding": embeddings,
                "prompt": prompt, "host_tokens": host_tokens, "float_tokens": float_tokens,
                "host_tokens_from": "host PyTorch, greedy, the compressed model in the device's arithmetic "
                                    "(int8 dynamic activations where the recipe quantizes)",
            },
            "export": result.info,
            "steps": steps,
            "reference": {"file": REFERENCE, "count": 1, "outputs": "host logits of the prompt's last token",
                          "float_outputs": "the same from the uncompressed model"},
        }
        return write_artifact(outdir, {**result.files, REFERENCE: workdir / REFERENCE}, manifest, force=force)


def _weights(recipe: Sequence[Any]) -> str:
    if not recipe:
        return "float32"
    parts = []
    for c in recipe:
        if isinstance(c, (Int4WeightOnlyConfig, GptqInt4Config)):
            parts.append(f"{c.method}: int4 symmetric, group {c.group_size}, bf16 scales; int8 dynamic activations "
                         "(XNNPACK qd8-qb4w)" + (f"; float: {', '.join(c.skip)}" if c.skip else ""))
        else:
            parts.append(f"{c.method}: int8 per channel; int8 dynamic activations (XNNPACK qd8-qc8w)")
    return "; ".join(parts)
