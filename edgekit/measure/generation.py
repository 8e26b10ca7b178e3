"""Token generation on a device: time to first token, decode speed, memory, and the device's tokens against the
host's greedy tokens (artifacts from compile_decoder)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..artifact import Artifact
from ..errors import InputError
from ..profiles import Profile
from .runner import deployable, deployed, loaded_artifact, report_head, time_base
from .stats import latency_summary

Progress = Callable[[str, int, int], None]


def generation_prompt(art: Artifact, prompt_len: int | None) -> list[int]:
    """The artifact's reference prompt, or its first `prompt_len` tokens (repeated when longer is asked)."""
    spec = art.manifest.get("generation")
    if not spec:
        raise InputError(f"{art.path} is not a cached decoder (its manifest has no 'generation' section)",
                         "compile a decoder (edgekit.compile_decoder) to measure generation")
    prompt = spec["prompt"]
    if prompt_len is None or prompt_len == len(prompt):
        return list(prompt)
    return [prompt[i % len(prompt)] for i in range(prompt_len)]


def token_agreement(device: list[int], host: list[int]) -> dict[str, Any]:
    """How the device's greedy tokens compare with the host's, position by position."""
    n = min(len(device), len(host))
    diverge = next((i for i in range(n) if device[i] != host[i]), None)
    return {"compared": n, "identical": diverge is None and n > 0,
            "same_position_share": round(sum(d == h for d, h in zip(device, host)) / n, 4) if n else None,
            "first_divergence": diverge,
            "note": "greedy tokens feed back: after the first difference the two texts go separate ways"}


def benchmark_generation(artifact: Artifact | str | Path, target: Profile | str, *, new_tokens: int = 64,
                         prompt_len: int | None = None, transport: str | None = None,
                         transport_options: dict[str, Any] | None = None, timeout: float = 120.0,
                         progress: Progress | None = None) -> dict[str, Any]:
    """Generate `new_tokens` greedy tokens on `target` after a prompt; the report's 'generation' section."""
    progress = progress or (lambda *_: None)
    art = loaded_artifact(artifact)
    prompt = generation_prompt(art, prompt_len)
    spec = art.manifest["generation"]
    if len(prompt) + new_tokens > spec["max_seq_len"]:
        raise InputError(f"prompt ({len(prompt)}) + new tokens ({new_tokens}) exceed the decoder's context of "
                         f"{spec['max_seq_len']}", "generate fewer tokens or use a shorter prompt")
    if new_tokens < 1:
        raise InputError("--generate needs at least 1 new token")
    profile = deployable(art, target)
    with deployed(art, profile, transport, transport_options, timeout, progress) as (session, deploy, facts, hello,
                                                                                    loaded):
        progress("generating", 0, new_tokens)
        result = session.generate(prompt, new_tokens)
        progress("generating", new_tokens, new_tokens)
        mem = session.memory()

    decode = latency_summary(result["decode_ns"]) if result["decode_ns"] else None
    same_prompt = prompt == spec["prompt"]
    file_bytes = art.dense_bytes
    peak = mem.get("peak_rss_bytes")
    generation = {
        "prompt_len": len(prompt), "new_tokens": new_tokens, "tokens": result["tokens"],
        "time_to_first_token_ms": result["prefill_ns"] / 1e6,
        "prefill_tokens_per_s": len(prompt) / (result["prefill_ns"] / 1e9),
        "decode_ms": decode,
        "decode_tokens_per_s": 1e3 / decode["p50"] if decode else None,
        "decode_tokens_per_s_note": "1000 / the median time per decoded token (argmax included)",
        "vs_host": token_agreement(result["tokens"], spec["host_tokens"]) if same_prompt else None,
        "vs_float": token_agreement(result["tokens"], spec["float_tokens"]) if same_prompt else None,
        "host_tokens_note": None if same_prompt else
        f"the host's tokens are for the compiled prompt of {len(spec['prompt'])} tokens; not compared",
        "kv_cache_bytes": spec["kv_cache_bytes"], "model_file_bytes": file_bytes,
        "peak_rss_over_file_and_cache": round(peak / (file_bytes + spec["kv_cache_bytes"]), 3) if peak else None,
        "weights": spec.get("weights"), "embedding": spec.get("embedding"),
    }
    counts = result.get("instructions")
    counters = {"prefill_instructions": counts[0], "decode_instructions": counts[1:],
                "instructions_per_decoded_token": int(sorted(counts[1:])[len(counts[1:]) // 2]) if counts[1:] else None,
                "instructions_note": "the CPU's instruction counter, user space only, read by ek_pte_runner around "
                                     "each execute() of the generation: the prompt's, then one per decoded token "
                                     "(per token: the median)"} if counts else None
    return {**report_head(art, profile, hello, facts),
            **({"counters": counters} if counters else {}),
            "latency_ms": {**(decode or {}), "what": "decode time per token",
                           "measured_on": hello["machine"]["cpu"], **time_base(facts, hello["machine"])},
            "load_ms": loaded["load_s"] * 1e3,
            "first_inference_ms": loaded["first_inference_s"] * 1e3,
            "memory": {**mem, "limit_bytes": facts.get("memory_limit_bytes")},
            "generation": generation, "deploy": deploy}

