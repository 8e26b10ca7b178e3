"""A byte-level GPT trained here on pydoc_data.topics: held-out perplexity of FP32 vs RTN-INT4 vs GPTQ-INT4 at
the same group sizes, with the packed file sizes. Writes the 'gpt_int4' section of bench/results/compression.json.

    .venv/bin/python bench/bench_gpt_int4.py [--steps 400]

Held-out text: every 4th documentation topic (never trained on, never used for GPTQ calibration). The trained
model is kept in build/bench/ (ignored by git) so a rerun skips training.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import merge_section  # noqa: E402

from edgekit.compress import CompressionContext, compress  # noqa: E402
from edgekit.compress.gptq import GptqInt4Config  # noqa: E402
from edgekit.compress.int4 import Int4WeightOnlyConfig, int4_summary, save_int4  # noqa: E402
from edgekit.models.tinygpt import GPTConfig, TinyGPT, perplexity, pydoc_bytes, train_gpt, windows  # noqa: E402

CACHE = Path(__file__).resolve().parent.parent / "build" / "bench"


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def pte_sizes(model, cfg, ctx, args):
    """FP32 vs INT4 (RTN g32) .pte of the GPT on the emulated phone: the INT4 program stores the packed codes and
    dequantizes inside the graph (portable kernels, not XNNPACK), so it is small but slower."""
    import edgekit
    example = (torch.zeros(1, cfg.context, dtype=torch.long),)
    res = {"measured_on": None}
    with tempfile.TemporaryDirectory() as tmp:
        for name, recipe in (("fp32", []), ("int4_rtn_g32", [Int4WeightOnlyConfig(group_size=32)])):
            art = edgekit.compile_model(model, example, "emu-phone", Path(tmp) / name, recipe=recipe,
                                        calibration=edgekit.Dataset(ctx.calibration[:8], None))
            rep = edgekit.benchmark(art, "emu-phone", runs=args.pte_runs, warmup=2)
            res[name] = {"size_bytes": art.size_bytes, "latency_ms_p50": rep["latency_ms"]["p50"],
                         "vs_host_cosine": rep["fidelity"]["vs_host"]["cosine"],
                         "vs_float_cosine": rep["fidelity"]["vs_float"]["cosine"]}
            res["measured_on"] = rep["latency_ms"]["measured_on"]
            log("pte", name, res[name])
    res["size_ratio"] = res["int4_rtn_g32"]["size_bytes"] / res["fp32"]["size_bytes"]
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--eval-windows", type=int, default=400)
    p.add_argument("--calibration", type=int, default=128)
    p.add_argument("--group-sizes", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--pte-runs", type=int, default=50, help="0 skips the .pte export and device run")
    args = p.parse_args()
    cfg = GPTConfig(dim=args.dim, layers=args.layers, context=args.context, heads=4)
    train, test = pydoc_bytes()
    ckpt = CACHE / f"tinygpt-{args.dim}x{args.layers}-c{args.context}-s{args.steps}-b{args.batch}.pt"
    if ckpt.exists():
        saved = torch.load(ckpt)
        model = TinyGPT(cfg)
        model.load_state_dict(saved["state"])
        model.eval()
        info = saved["info"]
    else:
        model, info = train_gpt(train, cfg, steps=args.steps, batch=args.batch, log=log)
        CACHE.mkdir(parents=True, exist_ok=True)
        torch.save({"state": model.state_dict(), "info": info}, ckpt)
    log("trained", info)
    cal = windows(train, cfg.context, args.calibration, seed=12345)[:, :-1]
    ctx = CompressionContext((torch.from_numpy(cal[:1]),), calibration=cal)
    ppl = lambda m: perplexity(m, test, cfg.context, count=args.eval_windows)  # noqa: E731
    fp32 = ppl(model)
    out = {"model": {**asdict(cfg), "params": sum(p.numel() for p in model.parameters()), "training": info,
                     "train_bytes": len(train), "held_out_bytes": len(test)},
           "eval_tokens": min(args.eval_windows, len(test) // cfg.context) * cfg.context,
           "calibration_windows": len(cal), "fp32": {"perplexity": fp32}, "by_group_size": {}}
    with tempfile.TemporaryDirectory() as tmp:
        out["fp32"]["file_bytes"] = save_int4(model, Path(tmp) / "fp32.safetensors")
        for g in args.group_sizes:
            row = {}
            for name, config in (("rtn", Int4WeightOnlyConfig(group_size=g)),
                                 ("gptq", GptqInt4Config(group_size=g, calibration_samples=len(cal)))):
                t = time.time()
                q = compress(model, config, ctx)
                secs = time.time() - t
                row[name] = {"perplexity": ppl(q), "compress_s": round(secs, 1),
                             "file_bytes": save_int4(q, Path(tmp) / f"{name}{g}.safetensors"), **int4_summary(q)}
                row[name]["increase"] = row[name]["perplexity"] - fp32
                log(g, name, row[name])
            row["gptq_increase_over_rtn_increase"] = row["gptq"]["increase"] / row["rtn"]["increase"]
            out["by_group_size"][str(g)] = row
    if args.pte_runs:
        try:
            out["pte_on_emu_phone"] = pte_sizes(model, cfg, ctx, args)
        except Exception as exc:  # the perplexity figures above stand on their own; record why this part failed
            out["pte_on_emu_phone"] = {"error": f"{type(exc).__name__}: {exc}"}
            log("pte failed", exc)
    out["targets"] = {f"gptq_increase_le_half_rtn_g{g}": r["gptq_increase_over_rtn_increase"] <= 0.5
                      for g, r in out["by_group_size"].items()}
    merge_section("gpt_int4", out)


if __name__ == "__main__":
    main()
