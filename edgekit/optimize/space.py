"""The recipes a search may try on a target: quantization the target computes (INT8 static everywhere it computes
int8; mixed precision where it computes float too, keeping the fewest layers float that reach the search's cosine
budget or 0.99; on ExecuTorch targets also dynamic INT8, QAT and INT4 weights in groups of 32), structured pruning
ratios and
importance criteria, and the fine-tuning that follows pruning. A candidate is a dict of choices (Optuna's params);
`recipe_for` turns it into the compression steps `compile_model` applies.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..compress import Int4WeightOnlyConfig, Int8DynamicConfig, Int8StaticConfig, QatInt8Config
from ..compress.numerics import DEFAULT_THRESHOLD
from ..compress.prune_structured import StructuredPruneConfig
from ..profiles import Profile

PRUNE_RATIOS = (0.0, 0.25, 0.4, 0.55, 0.7)
IMPORTANCE = ("l1", "activation-mean")


@dataclass(frozen=True)
class SearchSpace:
    quantization: tuple[str, ...]
    prune_ratios: tuple[float, ...] = PRUNE_RATIOS
    importance: tuple[str, ...] = IMPORTANCE
    finetune_epochs: int = 8  # after pruning, on the calibration data (which must have labels)
    left_out: str | None = None  # what the search does not try on this model, and why (shown in the report)
    mixed_min_cosine: float = DEFAULT_THRESHOLD  # what "int8-mixed" keeps layers float to reach

    @classmethod
    def for_profile(cls, profile: Profile, labelled: bool, model: torch.nn.Module | None = None,
                    min_cosine: float | None = None) -> "SearchSpace":
        """What the target can run: int8 only where it computes nothing else; pruning only with labels to
        fine-tune on (pruning without fine-tuning loses too much to be worth a device run) and only on a model
        that still has layers to prune (every pruned trial on a .pt2 would fail to compile)."""
        dtypes = set(profile.software.dtypes)
        quant = tuple(q for q, dtype in (("fp32", "float32"), ("int8", "int8")) if dtype in dtypes)
        if {"float32", "int8"} <= dtypes:
            quant += ("int8-mixed",)
        if "pte" in profile.software.formats and "int8" in dtypes:
            # XNNPACK's other paths: dynamic INT8, QAT (the .tflite route refuses it), INT4 Linear weights.
            quant += ("int8-dynamic",) + (("int8-qat",) if labelled else ()) + ("int4-g32",)
        left_out = None
        if not labelled:
            left_out = "pruning: no labelled calibration data ('x' and 'y') to fine-tune on after pruning"
        elif model is not None and not has_prunable_layers(model):
            left_out = ("pruning: the model is an exported graph (a .pt2) without nn.Module layers to prune (give "
                        "MODEL as file.py:factory to search pruning too)")
        return cls(quantization=quant, prune_ratios=(0.0,) if left_out else PRUNE_RATIOS, left_out=left_out,
                   mixed_min_cosine=min_cosine or DEFAULT_THRESHOLD)

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def baseline(self) -> dict[str, Any]:
        """The candidate the search always measures first: the target's plainest quantization, no pruning."""
        return {"quantization": "int8" if "int8" in self.quantization else self.quantization[0], "prune_ratio": 0.0}

    def suggest(self, trial: Any) -> dict[str, Any]:
        params = {"quantization": trial.suggest_categorical("quantization", list(self.quantization)),
                  "prune_ratio": trial.suggest_categorical("prune_ratio", list(self.prune_ratios))}
        if params["prune_ratio"] > 0:
            params["importance"] = trial.suggest_categorical("importance", list(self.importance))
        return params

    def recipe_for(self, params: dict[str, Any]) -> list[Any]:
        steps: list[Any] = []
        if params.get("prune_ratio", 0) > 0:
            steps.append(StructuredPruneConfig(ratio=params["prune_ratio"], importance=params.get("importance", "l1"),
                                               finetune_epochs=self.finetune_epochs))
        quant = params["quantization"]
        if quant == "int8":
            steps.append(Int8StaticConfig())
        elif quant == "int8-mixed":
            steps.append(Int8StaticConfig(min_cosine=self.mixed_min_cosine))
        elif quant == "int8-dynamic":
            steps.append(Int8DynamicConfig())
        elif quant == "int8-qat":
            steps.append(QatInt8Config(epochs=3))
        elif quant == "int4-g32":
            steps.append(Int4WeightOnlyConfig(group_size=32, symmetric=True))
        return steps


def has_prunable_layers(model: torch.nn.Module) -> bool:
    """Whether structured pruning can apply: the condition under which compress/prune_structured.py refuses a model
    (an exported graph whose Conv and Linear layers are gone), asked before any trial rather than in each one."""
    return not isinstance(model, torch.fx.GraphModule) or any(
        isinstance(m, (torch.nn.modules.conv._ConvNd, torch.nn.Linear)) for m in model.modules())


def describe(params: dict[str, Any]) -> str:
    """One line: 'prune 40% (l1) -> int8'."""
    parts = []
    if params.get("prune_ratio", 0) > 0:
        parts.append(f"prune {params['prune_ratio'] * 100:.0f}% ({params.get('importance', 'l1')})")
    parts.append(params["quantization"])
    return " -> ".join(parts)
