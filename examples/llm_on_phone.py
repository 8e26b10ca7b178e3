"""A LLaMA-architecture decoder on the phone path in one command: train (or load) a small decoder on the Python
docs, quantize it (INT8 dynamic, INT4 round-to-nearest, INT4 GPTQ), compile each to an ExecuTorch .pte that
prefills a prompt and decodes token by token with its KV cache inside, generate on the emulated phone, and print
the side-by-side table: size, held-out perplexity (through each .pte, one token per call), time to first token,
decode tokens/s, peak RSS, and whether the device's greedy tokens are the host's.

    .venv/bin/python examples/llm_on_phone.py [--target emu-phone|emu-phone-arm] [--steps 1500] [--group-size 128]

The first run trains for a few minutes on 2 cores; the model is then cached (~/.cache/edgekit/models).
"""
import argparse
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

import edgekit
from edgekit.measure.perplexity import decoder_perplexity, pte_step
from edgekit.models.llama import trained_llama
from edgekit.models.tinygpt import pydoc_bytes, windows
from edgekit.units import format_bytes


def variants(group_size: int) -> dict[str, list]:
    return {
        "FP32": [],
        "INT8 dynamic": [edgekit.Int8DynamicTokenConfig()],
        f"INT4 RTN g{group_size}": [edgekit.Int4WeightOnlyConfig(group_size=group_size, symmetric=True)],
        f"INT4 GPTQ g{group_size}": [edgekit.GptqInt4Config(group_size=group_size, symmetric=True,
                                                            calibration_samples=64)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="emu-phone")
    parser.add_argument("--steps", type=int, default=1500, help="training steps (the model is cached per value)")
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--size", default="small", choices=("small", "tiny"))
    parser.add_argument("--group-size", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--eval-windows", type=int, default=20, help="held-out windows of --context bytes")
    parser.add_argument("--only", nargs="+", help="variant names to run (default: all four)")
    args = parser.parse_args()
    console = Console(stderr=True)
    model, info = trained_llama(args.steps, args.context, args.size,
                                log=lambda *a: console.print("training:", *a))
    train, test = pydoc_bytes()
    calibration = edgekit.Dataset(windows(train, args.context, 64, seed=12345)[:, :-1])
    held_out = windows(test, args.context, args.eval_windows)
    prompt = test[:32].tolist()
    table = Table(title=f"{args.size} decoder ({sum(p.numel() for p in model.parameters()):,} parameters, "
                        f"{info['steps']} training steps) on {args.target}")
    for col in ("variant", "size", "perplexity", "first token ms", "decode tok/s", "peak RSS", "tokens vs host"):
        table.add_column(col)
    chosen = {k: v for k, v in variants(args.group_size).items() if not args.only or k in args.only}
    with tempfile.TemporaryDirectory() as tmp:
        for name, recipe in chosen.items():
            console.print(f"{name}: compiling")
            art = edgekit.compile_decoder(model, args.target, Path(tmp) / name.replace(" ", "-"), recipe=recipe,
                                          calibration=calibration, prompt=prompt, reference_tokens=args.new_tokens)
            ppl = decoder_perplexity(pte_step(art.model_file), held_out)
            console.print(f"{name}: generating on {args.target}")
            report = edgekit.benchmark_generation(art, args.target, new_tokens=args.new_tokens, timeout=600)
            gen, rss = report["generation"], report["memory"].get("peak_rss_bytes")
            agree = gen["vs_host"]
            table.add_row(name, format_bytes(art.size_bytes), f"{ppl:.3f}", f"{gen['time_to_first_token_ms']:.2f}",
                          f"{gen['decode_tokens_per_s']:.0f}", format_bytes(rss) if rss else "-",
                          "identical" if agree["identical"] else f"{agree['same_position_share'] * 100:.0f}% same")
    Console().print(table)
    print(f"latency time base: {report['latency_ms']['time_base_label']}; perplexity on {held_out[:, 1:].size} "
          "held-out bytes through each .pte")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
