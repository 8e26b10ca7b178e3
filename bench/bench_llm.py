"""Cached LLaMA-architecture decoders on the phone path: generation speed, size and memory (the ~100 M decoder,
seeded random weights) and quality (a small decoder trained here on the Python docs): FP32, INT8 dynamic,
INT4 RTN and INT4 GPTQ, all on XNNPACK's kernels. Writes bench/results/llm.json.

    .venv/bin/python bench/bench_llm.py [--targets emu-phone emu-phone-arm] [--skip-100m] [--skip-quality]

Perplexity is measured through each .pte with ExecuTorch's runtime on this host, one token per call (the device's
decode path), on held-out documentation topics never trained on nor used for calibration. Latencies are what the
named target measured (its time base is recorded); ratios compare runs of the same session.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS  # noqa: E402
from results_io import merge_section  # noqa: E402

import edgekit  # noqa: E402
from edgekit.measure.perplexity import decoder_perplexity, pte_step  # noqa: E402
from edgekit.models.llama import llama, trained_llama  # noqa: E402
from edgekit.models.tinygpt import pydoc_bytes, windows  # noqa: E402


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def recipes(group_sizes: list[int], gptq: bool) -> dict[str, list]:
    out = {"fp32": [], "int8_dynamic": [edgekit.Int8DynamicTokenConfig()]}
    for g in group_sizes:
        out[f"int4_rtn_g{g}"] = [edgekit.Int4WeightOnlyConfig(group_size=g, symmetric=True)]
        if gptq:
            out[f"int4_gptq_g{g}"] = [edgekit.GptqInt4Config(group_size=g, symmetric=True, calibration_samples=64)]
    return out


def generation_row(art, target: str, new_tokens: int) -> dict:
    rep = edgekit.benchmark_generation(art, target, new_tokens=new_tokens, timeout=600)
    gen = rep["generation"]
    return {"time_to_first_token_ms": gen["time_to_first_token_ms"], "decode_tokens_per_s": gen["decode_tokens_per_s"],
            "decode_ms_p50": gen["decode_ms"]["p50"], "peak_rss_bytes": rep["memory"].get("peak_rss_bytes"),
            "rss_process": rep["memory"].get("process", "agent (python)"),
            "peak_rss_over_file_and_cache": gen["peak_rss_over_file_and_cache"],
            "tokens_identical_to_host": gen["vs_host"]["identical"],
            "tokens_same_position_share_vs_host": gen["vs_host"]["same_position_share"],
            "tokens_same_position_share_vs_float": gen["vs_float"]["same_position_share"],
            "time_base": rep["latency_ms"]["time_base_label"]}


def speed(args, workdir: Path) -> dict:
    model = llama("100m", seed=0)
    prompt = torch.randint(0, model.vocab_size, (args.prompt_len,), generator=torch.Generator().manual_seed(0))
    out = {"model": model.describe(), "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
           "kv_cache_bytes": model.config.kv_cache_bytes(), "variants": {}}
    for name, recipe in recipes([128], gptq=False).items():
        t = time.time()
        art = edgekit.compile_decoder(model, "emu-phone", workdir / f"100m-{name}", recipe=recipe,
                                      prompt=prompt.tolist(), reference_tokens=args.new_tokens)
        row = {"compile_s": round(time.time() - t, 1), "size_bytes": art.size_bytes,
               "weights": art.manifest["generation"]["weights"], "embedding": art.manifest["generation"]["embedding"]}
        for target in args.targets:
            row[target] = generation_row(art, target, args.new_tokens)
        out["variants"][name] = row
        log("100m", name, row)
    fp32, int4 = out["variants"]["fp32"], out["variants"]["int4_rtn_g128"]
    out["targets"] = {"int4_size_over_fp32": int4["size_bytes"] / fp32["size_bytes"],
                      "int4_size_le_0.3x": int4["size_bytes"] <= 0.3 * fp32["size_bytes"]}
    for target in args.targets:
        speedup = int4[target]["decode_tokens_per_s"] / fp32[target]["decode_tokens_per_s"]
        out["targets"][target] = {
            "int4_decode_speedup_over_fp32": speedup, "int4_decode_ge_2x_fp32": speedup >= 2,
            "int4_peak_rss_over_file_and_cache": int4[target]["peak_rss_over_file_and_cache"],
            "int4_rss_le_1.3x": (int4[target]["peak_rss_over_file_and_cache"] or 99) <= 1.3,
            "fp32_tokens_identical_to_host": fp32[target]["tokens_identical_to_host"]}
    return out


def quality(args, workdir: Path) -> dict:
    model, info = trained_llama(args.train_steps, args.context, log=log)
    train, test = pydoc_bytes()
    cal = windows(train, args.context, 64, seed=12345)[:, :-1]
    held = windows(test, args.context, args.eval_windows)
    prompt = test[:args.prompt_len].tolist()
    out = {"model": model.describe(), "training": info, "eval_tokens": int(held[:, 1:].size),
           "calibration_windows": len(cal), "variants": {}}
    for name, recipe in recipes(args.group_sizes, gptq=True).items():
        t = time.time()
        art = edgekit.compile_decoder(model, "emu-phone", workdir / f"small-{name}", recipe=recipe,
                                      calibration=edgekit.Dataset(cal), prompt=prompt,
                                      reference_tokens=args.new_tokens)
        row = {"compile_s": round(time.time() - t, 1), "size_bytes": art.size_bytes,
               "perplexity": decoder_perplexity(pte_step(art.model_file), held)}
        if name in ("fp32", "int8_dynamic", "int4_rtn_g128", "int4_gptq_g128"):
            row["emu-phone"] = generation_row(art, "emu-phone", args.new_tokens)
        out["variants"][name] = row
        log("small", name, row)
    fp32 = out["variants"]["fp32"]["perplexity"]
    out["targets"] = {}
    for g in args.group_sizes:
        rtn, gptq = (out["variants"][f"int4_{m}_g{g}"]["perplexity"] - fp32 for m in ("rtn", "gptq"))
        out["targets"][f"g{g}"] = {"rtn_increase": rtn, "gptq_increase": gptq,
                                   "gptq_over_rtn": gptq / rtn if rtn > 0 else None,
                                   "gptq_le_half_rtn": rtn > 0 and gptq <= 0.5 * rtn}
    return out


def litert_probe(workdir: Path) -> dict:
    """Issue 11's Pi question: does the decoder convert to .tflite (litert-torch, pinned) and generate correctly?
    Converted at T = 1 (decode only: the prompt goes in token by token), run by ai-edge-litert on this host."""
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.decoder import greedy_tokens
    model = llama("tiny").requires_grad_(False)
    prompt, n = list(range(40, 56)), 16
    host = greedy_tokens(model, prompt, n)
    path = workdir / "tiny-decoder.tflite"
    try:
        litert_torch.convert(model, (torch.zeros(1, 1, dtype=torch.long), torch.tensor([0]))).export(str(path))
    except Exception as exc:  # the converter's own reason is the finding
        return {"converts": False, "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    it = Interpreter(str(path))
    it.allocate_tensors()
    ins, out = it.get_input_details(), it.get_output_details()[0]

    def step(token: int, pos: int) -> int:
        it.set_tensor(ins[0]["index"], np.array([[token]], ins[0]["dtype"]))
        it.set_tensor(ins[1]["index"], np.array([pos], ins[1]["dtype"]))
        it.invoke()
        return int(np.argmax(it.get_tensor(out["index"])))
    for pos, token in enumerate(prompt):
        nxt = step(token, pos)
    device = [nxt]
    for i in range(n - 1):
        device.append(step(device[-1], len(prompt) + i))
    same = [a == b for a, b in zip(device, host)]
    return {"converts": True, "tokens_identical_to_host": all(same),
            "first_divergence": None if all(same) else same.index(False),
            "host_tokens": host, "litert_tokens": device, "runtime": "ai-edge-litert on this host, decode-only (T=1)"}


def markdown(path: Path = RESULTS / "llm.json") -> str:
    """The figures of llm.json as the tables of docs/llm.md (`--table` prints them)."""
    import json
    data = json.loads(path.read_text())
    lines = []
    big = data.get("decoder_100m")
    if big:
        targets = [t for t in ("emu-phone", "emu-phone-arm") if t in big["variants"]["fp32"]]
        lines += [f"~100 M decoder ({big['model']['params']:,} parameters, seeded random weights), prompt "
                  f"{big['prompt_len']}, {big['new_tokens']} new tokens; `{big['command']}`, "
                  f"{big['machine']['cpu']} ({', '.join(big['machine']['cpu_flags'])}):", "",
                  "| variant | .pte | " + " | ".join(f"{t}: first token ms / decode tok/s / peak RSS (x file+KV) / "
                                                    "tokens = host" for t in targets) + " |",
                  "|---|---|" + "---|" * len(targets)]
        for name, row in big["variants"].items():
            cells = []
            for t in targets:
                r = row[t]
                cells.append(f"{r['time_to_first_token_ms']:.1f} / {r['decode_tokens_per_s']:.1f} / "
                             f"{r['peak_rss_bytes'] / 2**20:.0f} MiB ({r['peak_rss_over_file_and_cache']:.2f}x, "
                             f"{r['rss_process']}) / "
                             + ("identical" if r["tokens_identical_to_host"] else
                                f"{r['tokens_same_position_share_vs_host'] * 100:.0f}% same"))
            lines.append(f"| {name} | {row['size_bytes'] / 2**20:.1f} MiB | " + " | ".join(cells) + " |")
        lines.append("")
    small = data.get("small_trained")
    if small:
        lines += [f"Small decoder trained here ({small['model']['params']:,} parameters, {small['training']['steps']} "
                  f"steps), held-out perplexity through each .pte on {small['eval_tokens']:,} bytes:", "",
                  "| variant | .pte | perplexity | increase over FP32 |", "|---|---|---|---|"]
        fp32 = small["variants"]["fp32"]["perplexity"]
        for name, row in small["variants"].items():
            lines.append(f"| {name} | {row['size_bytes'] / 1024:,.0f} KiB | {row['perplexity']:.4f} | "
                         f"{row['perplexity'] - fp32:+.4f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--targets", nargs="+", default=["emu-phone"])
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--train-steps", type=int, default=1500)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--eval-windows", type=int, default=40)
    p.add_argument("--group-sizes", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--skip-100m", action="store_true")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-litert", action="store_true")
    p.add_argument("--table", action="store_true", help="print docs/llm.md's tables from llm.json and stop")
    args = p.parse_args()
    if args.table:
        print(markdown())
        return
    # Each part replaces its own section of llm.json, so a part can be rerun alone.
    with tempfile.TemporaryDirectory(prefix="edgekit-llm-") as tmp:
        for name, skip, run in (("small_trained", args.skip_quality, quality), ("decoder_100m", args.skip_100m, speed),
                                ("pi_litert_probe", args.skip_litert, lambda a, w: litert_probe(w))):
            if not skip:
                merge_section(name, run(args, Path(tmp)), RESULTS / "llm.json")


if __name__ == "__main__":
    main()
