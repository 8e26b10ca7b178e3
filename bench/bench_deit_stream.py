"""Where the zoo's random-weight DeiT-tiny loses its INT8 accuracy (issue 24): the float model with int8 rounding at
one place at a time, per tensor, asymmetric, over the range seen on the calibration samples (as PT2E's observers
calibrate), everything else float; the cosine of the logits against FP32 on the evaluation samples.

Places: the class-token / patch concatenation, the stream after the position-embedding add (both in the model's own
forward, outside any module), and each block's output (the residual stream, whose adds belong to the blocks).

    .venv/bin/python bench/bench_deit_stream.py     # -> bench/results/deit_stream.json, about a minute
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

from edgekit.models.zoo import ZOO  # noqa: E402

CALIBRATION, EVALUATION = 64, 32
PLACES = ("cat", "pos_add", "blocks")


def _stream(model: torch.nn.Module, x: torch.Tensor, hook) -> torch.Tensor:
    """DeiT's forward (edgekit/models/zoo/deit_tiny.py), passing each place's tensor through `hook(place, t)`."""
    h = model.patch_embed(x)
    h = hook("cat", torch.cat([model.cls_token.expand(x.shape[0], -1, -1), h], dim=1))
    h = hook("pos_add", h + model.pos_embed)
    for i, block in enumerate(model.blocks):
        h = hook(f"blocks.{i}", block(h))
    return model.head(model.norm(h)[:, 0])


def _int8(t: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255
    zero = round(-128 - lo / scale)
    return (torch.clamp(torch.round(t / scale) + zero, -128, 127) - zero) * scale


def main() -> None:
    entry = ZOO["deit_tiny"]
    model, _ = entry.factory()
    model.eval()
    cal = torch.as_tensor(entry.calibration_data(CALIBRATION, 0)["x"])
    xs = torch.as_tensor(entry.data(EVALUATION, 1)["x"])
    ranges: dict[str, tuple[float, float]] = {}

    def observe(place: str, t: torch.Tensor) -> torch.Tensor:
        lo, hi = ranges.get(place, (float("inf"), float("-inf")))
        ranges[place] = (min(lo, t.min().item()), max(hi, t.max().item()))
        return t

    with torch.no_grad():
        for x in cal.split(8):
            _stream(model, x, observe)
        reference = torch.cat([_stream(model, x, lambda p, t: t) for x in xs.split(8)])
        figures = {}
        for chosen in [("cat",), ("pos_add",), ("blocks",), ("pos_add", "blocks"), PLACES]:
            def rounded(place: str, t: torch.Tensor) -> torch.Tensor:
                return _int8(t, *ranges[place]) if place.split(".")[0] in chosen else t
            out = torch.cat([_stream(model, x, rounded) for x in xs.split(8)])
            cosine = torch.nn.functional.cosine_similarity(out.flatten(), reference.flatten(), dim=0).item()
            figures[" + ".join(chosen)] = round(cosine, 6)
            print(f"int8 at {' + '.join(chosen)}: cosine {cosine:.6f}")
    first = {"cls_token_max_abs": model.cls_token.abs().max().item(),
             "pos_embed_row0_max_abs": model.pos_embed[0, 0].abs().max().item(),
             "pos_add_range": ranges["pos_add"]}
    print(write_result("deit_stream", {"method": "float DeiT-tiny (random weights, the zoo's seed), int8 rounding "
                                       "per tensor at the named places only, ranges from the calibration samples",
                                       "calibration_samples": CALIBRATION, "evaluation_samples": EVALUATION,
                                       "cosine_vs_fp32": figures, "facts": first}))


if __name__ == "__main__":
    main()
