"""all-MiniLM-L6-v2, offline: INT8 (per-token dynamic) and INT4 (RTN, GPTQ) vs FP32, and a distilled student
(3 of 6 layers, rank-96 word embeddings) vs the same student trained without distillation. Writes the
'minilm_quant' / 'minilm_distill' sections of bench/results/compression.json.

    .venv/bin/python bench/bench_minilm.py --part quant
    .venv/bin/python bench/bench_minilm.py --part distill --max-len 32

Held-out sentences: prose sentences of every 4th pydoc topic (never used for calibration or training).
Quality = leave-one-out nearest-centroid topic accuracy on those sentences (see edgekit/models/minilm.py);
fidelity = cosine of each sentence embedding to the FP32 teacher's.
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import merge_section  # noqa: E402

from edgekit.metrics import count_params  # noqa: E402
from edgekit.compress import CompressionContext, compress  # noqa: E402
from edgekit.compress.distill import DistillConfig  # noqa: E402
from edgekit.compress.gptq import GptqInt4Config  # noqa: E402
from edgekit.compress.int4 import Int4WeightOnlyConfig, int4_summary, save_int4  # noqa: E402
from edgekit.compress.int8_token import Int8DynamicTokenConfig  # noqa: E402
from edgekit.compress.student import drop_layers, evenly_spaced, factorize_embedding  # noqa: E402
from edgekit.models.minilm import embed, load_minilm, tokenize, topic_accuracy, topic_split  # noqa: E402


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def fidelity(emb, ref):
    cos = (emb * ref).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(ref, axis=1)
    return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}


def quant(args):
    teacher, tok = load_minilm()
    split = topic_split()
    test_ids = tokenize(tok, split.test, args.max_len)
    ref = embed(teacher, test_ids)
    cal = tokenize(tok, split.train[::max(1, len(split.train) // args.calibration)][:args.calibration], args.max_len)
    ctx = CompressionContext((torch.from_numpy(cal[:1]),), calibration=cal)
    out = {"held_out_sentences": len(split.test), "calibration_sentences": len(cal), "max_len": args.max_len,
           "fp32": {"topic_accuracy": topic_accuracy(ref, split.test_topics)}}
    with tempfile.TemporaryDirectory() as tmp:
        out["fp32"]["file_bytes"] = save_int4(teacher, Path(tmp) / "fp32.safetensors")

        def record(name, model, seconds, packed=False):
            emb = embed(model, test_ids)
            rec = {**fidelity(emb, ref), "topic_accuracy": topic_accuracy(emb, split.test_topics),
                   "compress_s": round(seconds, 1)}
            if packed:
                rec["file_bytes"] = save_int4(model, Path(tmp) / f"{name}.safetensors")
                rec["file_ratio_vs_fp32"] = rec["file_bytes"] / out["fp32"]["file_bytes"]
                rec.update(int4_summary(model))
            out[name] = rec
            log(name, rec)
            merge_section("minilm_quant", {**out, "complete": False})  # partial figures survive an interrupted run

        t = time.time()
        q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(teacher), {torch.nn.Linear}, torch.qint8)
        record("int8_dynamic_per_tensor", q, time.time() - t)
        t = time.time()
        record("int8_dynamic_per_token", compress(teacher, Int8DynamicTokenConfig(), ctx), time.time() - t)
        for g in args.group_sizes:
            t = time.time()
            record(f"int4_rtn_g{g}", compress(teacher, Int4WeightOnlyConfig(group_size=g), ctx), time.time() - t,
                   packed=True)
            t = time.time()
            record(f"int4_gptq_g{g}", compress(teacher, GptqInt4Config(group_size=g, batch_size=32,
                                                                        calibration_samples=len(cal)), ctx),
                   time.time() - t, packed=True)
    out["targets"] = {"int8_cosine_ge_0.99": out["int8_dynamic_per_token"]["cosine_mean"] >= 0.99}
    merge_section("minilm_quant", {**out, "complete": True})


def make_student(layers: int, rank: int):
    def build(teacher):
        keep = evenly_spaced(len(teacher.bert.encoder.layer), layers)
        student = drop_layers(teacher, "bert.encoder.layer", keep)
        return factorize_embedding(student, "bert.embeddings.word_embeddings", rank)
    return build


def contrastive_train(student, tok, pairs, args):
    """The no-distillation baseline: the loss all-MiniLM itself was trained with (in-batch negatives on pairs of
    related sentences; here consecutive sentences of one documentation topic), same data, steps and optimiser."""
    a = torch.from_numpy(tokenize(tok, [p[0] for p in pairs], args.max_len))
    b = torch.from_numpy(tokenize(tok, [p[1] for p in pairs], args.max_len))
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr)
    steps = -(-len(a) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * steps,
                                                pct_start=max(0.1, 2 / (args.epochs * steps)))
    student.train()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(a), generator=gen)
        for s in range(steps):
            idx = perm[s * args.batch_size:(s + 1) * args.batch_size]
            ea, eb = student(a[idx]), student(b[idx])
            loss = torch.nn.functional.cross_entropy(20 * ea @ eb.T, torch.arange(len(idx)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if s % 20 == 0:
                log(f"baseline epoch {epoch} step {s}/{steps} loss {loss.item():.4f}")
    return student.eval()


def distill_part(args):
    teacher, tok = load_minilm()
    split = topic_split()
    test_ids = tokenize(tok, split.test, args.max_len)
    ref = embed(teacher, test_ids)
    teacher_acc = topic_accuracy(ref, split.test_topics)
    build = make_student(args.layers, args.rank)
    t_params = count_params(teacher) + 384 * 384 + 384  # + the pooler dropped at load (unused by mean pooling)
    keep = evenly_spaced(6, args.layers)
    pairs = [(f"bert.encoder.layer.{i}", f"bert.encoder.layer.{k}") for i, k in enumerate(keep)]
    config = DistillConfig(student=build, output_loss="cosine", alpha=1.0, hidden_pairs=tuple(pairs),
                           attention_pairs=tuple((s + ".attention.self", t + ".attention.self") for s, t in pairs),
                           hidden_weight=args.hidden_weight, attention_weight=args.attention_weight,
                           epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)
    x = tokenize(tok, split.train, args.max_len)
    last = [0.0]

    def progress(what, done, total):
        if time.time() - last[0] > 30:
            last[0] = time.time()
            log(what, done, total)

    def score(model):
        emb = embed(model, test_ids)
        acc = topic_accuracy(emb, split.test_topics)
        return {**fidelity(emb, ref), "topic_accuracy": acc, "quality_vs_teacher": acc / teacher_acc}

    untrained = build(teacher)
    s_params = count_params(untrained)
    out = {"teacher": {"params": t_params, "topic_accuracy": teacher_acc},
           "student": {"layers": keep, "embedding_rank": args.rank, "params": s_params,
                       "params_vs_teacher": s_params / t_params},
           "training": {"sentences": len(x), "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                        "max_len": args.max_len, "hidden_weight": args.hidden_weight,
                        "attention_weight": args.attention_weight},
           "quality": "leave-one-out nearest-centroid topic accuracy on held-out pydoc topics",
           "untrained_student": score(untrained)}
    log("untrained", out["untrained_student"])
    t = time.time()
    distilled = compress(teacher, config, CompressionContext((torch.from_numpy(x[:1]),), calibration=x,
                                                             progress=progress))
    out["distilled"] = {**score(distilled), "train_s": round(time.time() - t, 1)}
    log("distilled", out["distilled"])
    t = time.time()
    baseline = contrastive_train(build(teacher), tok, split.train_pairs, args)
    out["no_distillation"] = {**score(baseline), "train_s": round(time.time() - t, 1),
                              "loss": "in-batch contrastive (MultipleNegativesRanking) on consecutive sentences"}
    log("baseline", out["no_distillation"])
    d, b = out["distilled"], out["no_distillation"]
    out["targets"] = {"params_le_40pct": out["student"]["params_vs_teacher"] <= 0.40,
                      "quality_ge_97pct": d["quality_vs_teacher"] >= 0.97,
                      "beats_no_distillation": d["topic_accuracy"] > b["topic_accuracy"]}
    merge_section("minilm_distill", out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["quant", "distill"], required=True)
    p.add_argument("--max-len", type=int, default=48)
    p.add_argument("--calibration", type=int, default=64)
    p.add_argument("--group-sizes", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--rank", type=int, default=96)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden-weight", type=float, default=0.1)
    p.add_argument("--attention-weight", type=float, default=0.1)
    args = p.parse_args()
    torch.manual_seed(0)
    quant(args) if args.part == "quant" else distill_part(args)


if __name__ == "__main__":
    main()
