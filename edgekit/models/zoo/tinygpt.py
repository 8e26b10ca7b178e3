"""The project's small byte-level GPT decoder (edgekit/models/tinygpt.py: TinyGPT with its default GPTConfig:
256-byte vocabulary, context 128, dim 128, 4 pre-norm blocks of 4 heads, causal attention, GELU MLP), untrained,
on windows of real text (the Python documentation shipped with the standard library, as tinygpt.py trains on).

Source: the class is imported, not copied, so this entry exercises exactly what the project's benchmarks
compile; its layout follows Radford et al., GPT-2 (2019) / Karpathy's nanoGPT. Initialisation: PyTorch's module
defaults (what TinyGPT gets before train_gpt), seeded. Attention is F.scaled_dot_product_attention(is_causal=True)
as in tinygpt.py (torch.export keeps it as one op; the ExecuTorch and LiteRT converters decompose it).
No deviation.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from edgekit.models.tinygpt import GPTConfig, TinyGPT, pydoc_bytes, windows
from edgekit.models.zoo._common import CALIBRATION, EVAL, rng, seeded, to_tensors

NAME = "tinygpt"
FAMILY = "nlp"
INPUT_NAMES = ("ids",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False
CONFIG = GPTConfig()
PUBLISHED_PARAMS = 875_264  # TinyGPT(GPTConfig()) in edgekit/models/tinygpt.py
SOURCE = "edgekit/models/tinygpt.py TinyGPT (GPT-2 layout, Radford et al. 2019; nanoGPT)"
DEVIATIONS = ""
INT_RANGES = {"ids": (0, CONFIG.vocab)}


@lru_cache(maxsize=1)
def _text() -> tuple[np.ndarray, np.ndarray]:
    return pydoc_bytes()


def _data_for(n: int, seed: int, stream: int) -> dict:
    train, held_out = _text()
    source = train if stream == CALIBRATION else held_out
    start_seed = int(rng(seed, stream).integers(0, 2 ** 31))
    return {"ids": windows(source, CONFIG.context, n, seed=start_seed)[:, :CONFIG.context].copy()}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"ids": (n, 128) int64 bytes of the training text}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    """{"ids": (n, 128) int64 bytes of the held-out text}."""
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, lambda: TinyGPT(CONFIG)).eval()
    return model, to_tensors(eval_data(1), INPUT_NAMES)
