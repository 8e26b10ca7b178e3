"""Phone path benchmark: INT8 vs FP32 (.pte, XNNPACK) on the emulated phone, edgekit vs a hand-made export.

For the digits CNN and a MobileNetV2-style net (32x32, trained briefly on upscaled digits):
- INT8/FP32 file-size ratio, accuracy delta (points, on-device), INT8/FP32 median latency ratio (same run);
- the same models exported by hand with ExecuTorch's documented flow (the peer): size and latency ratios;
- agent-measured latency vs a bare in-process timing loop on the same .pte (the measurement's own cost).
Latencies are medians of several interleaved rounds, so slow drifts of this shared machine hit all variants alike.

    .venv/bin/python bench/bench_phone.py [--rounds 3] [--runs 300]
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
from common import CALIBRATION_SAMPLES, compile_fp32_and_int8, write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.models.digits import DigitsCNN, accuracy, load_digits_split, train  # noqa: E402
from edgekit.models.mobilenet_v2 import MobileNetV2Small  # noqa: E402

TARGET = "emu-phone"


def hand_made_pte(model: torch.nn.Module, example: tuple[torch.Tensor, ...], calibration: np.ndarray,
                  int8: bool, path: Path) -> None:
    """The peer: ExecuTorch's documented XNNPACK flow, written out by hand (no edgekit code)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from executorch.exir import to_edge_transform_and_lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    model = model.eval()
    if int8:
        graph = torch.export.export(model, example).module()
        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(graph, quantizer)
        with torch.no_grad():
            for sample in calibration[:CALIBRATION_SAMPLES]:
                prepared(torch.from_numpy(sample[None]))
        model = convert_pt2e(prepared)
    program = to_edge_transform_and_lower(torch.export.export(model, example),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(program.buffer)


def bare_loop_ms(pte: Path, x: np.ndarray, runs: int, warmup: int = 20) -> float:
    """Median latency of Method.execute in this process: no agent, no protocol, nothing around it."""
    from executorch.runtime import Runtime
    method = Runtime.get().load_program(pte).load_method("forward")
    inputs = [torch.from_numpy(x.copy())]
    for _ in range(warmup):
        method.execute(inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        method.execute(inputs)
        times.append(time.perf_counter_ns() - start)
    return float(np.median(times) / 1e6)


def bench_model(name: str, model: torch.nn.Module, split, rounds: int, runs: int, workdir: Path) -> dict:
    example = (torch.from_numpy(split.x_test[:1]),)
    test = edgekit.Dataset(split.x_test, split.y_test)
    arts = compile_fp32_and_int8(model, split, TARGET, workdir, name)
    peers = {}
    for prec in ("fp32", "int8"):
        peers[prec] = workdir / f"{name}-{prec}-peer.pte"
        hand_made_pte(model, example, split.x_train, prec == "int8", peers[prec])
    x = np.ascontiguousarray(split.x_test[:1])

    agent_ms = {p: [] for p in arts}
    bare_ms = {p: [] for p in arts}
    peer_ms = {p: [] for p in arts}
    reports = {}
    for r in range(rounds):
        for prec, art in arts.items():
            report = edgekit.benchmark(art, TARGET, runs=runs, warmup=20, eval_data=test if r == 0 else None)
            reports.setdefault(prec, report)
            agent_ms[prec].append(report["latency_ms"]["p50"])
            bare_ms[prec].append(bare_loop_ms(art.model_file, x, runs))
            peer_ms[prec].append(bare_loop_ms(peers[prec], x, runs))
        print(f"{name} round {r + 1}/{rounds}: " + ", ".join(
            f"{p} agent {agent_ms[p][-1]:.4f} bare {bare_ms[p][-1]:.4f} peer {peer_ms[p][-1]:.4f} ms" for p in arts),
            file=sys.stderr)

    med = lambda v: float(np.median(v))  # noqa: E731
    out = {"host_fp32_accuracy": accuracy(model, split.x_test, split.y_test), "test_samples": len(split.y_test)}
    for prec, art in arts.items():
        out[prec] = {"size_bytes": art.size_bytes, "peer_size_bytes": peers[prec].stat().st_size,
                     "identical_to_peer": art.model_file.read_bytes() == peers[prec].read_bytes(),
                     "accuracy_on_device": reports[prec]["accuracy"]["top1"],
                     "latency_p50_ms_agent": med(agent_ms[prec]), "latency_p50_ms_bare_loop": med(bare_ms[prec]),
                     "latency_p50_ms_peer_bare_loop": med(peer_ms[prec]),
                     "latency_rounds_ms": {"agent": agent_ms[prec], "bare": bare_ms[prec], "peer": peer_ms[prec]},
                     "load_ms": reports[prec]["load_ms"], "peak_rss_bytes": reports[prec]["memory"]["peak_rss_bytes"],
                     "cosine_vs_host": reports[prec]["fidelity"]["vs_host"]["cosine"],
                     "delegation": reports[prec]["artifact"]["delegation"]}
    f, q = out["fp32"], out["int8"]
    out["ratios"] = {
        "int8_over_fp32_size": q["size_bytes"] / f["size_bytes"],
        "int8_minus_fp32_accuracy_points": (q["accuracy_on_device"] - f["accuracy_on_device"]) * 100,
        "int8_over_fp32_latency": q["latency_p50_ms_agent"] / f["latency_p50_ms_agent"],
        **{f"{p}_edgekit_over_peer_size": out[p]["size_bytes"] / out[p]["peer_size_bytes"] for p in arts},
        **{f"{p}_edgekit_over_peer_latency": out[p]["latency_p50_ms_bare_loop"] / out[p]["latency_p50_ms_peer_bare_loop"]
           for p in arts},
        **{f"{p}_agent_over_bare_latency": out[p]["latency_p50_ms_agent"] / out[p]["latency_p50_ms_bare_loop"]
           for p in arts},
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--mobilenet-epochs", type=int, default=4)
    args = parser.parse_args()
    results = {"target": TARGET, "rounds": args.rounds, "runs_per_round": args.runs,
               "note": "latency measured on this host (x86_64, AVX2, no VNNI) through the emulated phone's agent; "
                       "it says nothing about a real phone's Arm cores"}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        split = load_digits_split()
        digits = train(DigitsCNN(), split.x_train, split.y_train, epochs=30)
        results["digits_cnn"] = bench_model("digits", digits, split, args.rounds, args.runs, Path(tmp))

        split32 = load_digits_split(size=32)
        split32.x_train, split32.x_test = (np.ascontiguousarray(np.repeat(a, 3, axis=1))
                                           for a in (split32.x_train, split32.x_test))
        torch.manual_seed(0)
        mnv2 = train(MobileNetV2Small(), split32.x_train, split32.y_train, epochs=args.mobilenet_epochs, lr=3e-3)
        results["mobilenet_v2_32x32"] = bench_model("mnv2", mnv2, split32, args.rounds, max(args.runs // 3, 100),
                                                    Path(tmp))
    targets = {}
    for model in ("digits_cnn", "mobilenet_v2_32x32"):
        r = results[model]["ratios"]
        targets[model] = {
            "accuracy_drop_le_0.5_points": -r["int8_minus_fp32_accuracy_points"] <= 0.5,
            "size_within_3pct_of_peer": all(abs(r[f"{p}_edgekit_over_peer_size"] - 1) <= 0.03 for p in ("fp32", "int8")),
            "latency_within_3pct_of_peer": all(abs(r[f"{p}_edgekit_over_peer_latency"] - 1) <= 0.03
                                               for p in ("fp32", "int8")),
            "agent_within_5pct_of_bare_loop": all(abs(r[f"{p}_agent_over_bare_latency"] - 1) <= 0.05
                                                  for p in ("fp32", "int8")),
        }
    results["targets_met"] = targets
    print(write_result("phone_int8", results))


if __name__ == "__main__":
    main()
