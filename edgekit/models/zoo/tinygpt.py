"""The project's small byte-level GPT decoder (edgekit/models/tinygpt.py: TinyGPT with its default GPTConfig:
256-byte vocabulary, context 128, dim 128, 4 pre-norm blocks of 4 heads, causal attention, GELU MLP), untrained,
on windows of real text (the Python documentation shipped with the standard library, as tinygpt.py trains on).

Source: TinyGPT is imported, not copied (layout of Radford et al., GPT-2 (2019) / Karpathy's nanoGPT), and the
weights are those TinyGPT(GPTConfig()) gets under the seed (PyTorch's module defaults, what it has before
train_gpt). One change of form, not of function: tinygpt.py calls F.scaled_dot_product_attention(is_causal=True),
which torch.export decomposes into boolean mask logic (logical_and / any / where); this entry writes the same
attention out, q k^T / sqrt(d) plus an additive causal mask (0 / -10000, a non-persistent buffer), softmax,
@ v, and slices the position table instead of embedding an arange. Same parameters and state_dict keys (a
trained tinygpt.py checkpoint loads), same outputs to float rounding.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from edgekit.models.tinygpt import Block, GPTConfig, TinyGPT, pydoc_bytes, windows
from edgekit.models.zoo._common import CALIBRATION, EVAL, rng, seeded, to_tensors

NAME = "tinygpt"
FAMILY = "nlp"
INPUT_NAMES = ("ids",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = False
CONFIG = GPTConfig()
PUBLISHED_PARAMS = 875_264  # TinyGPT(GPTConfig()) in edgekit/models/tinygpt.py
SOURCE = "edgekit/models/tinygpt.py TinyGPT (GPT-2 layout, Radford et al. 2019; nanoGPT)"
DEVIATIONS = "attention written out with an additive causal mask instead of F.scaled_dot_product_attention"
INT_RANGES = {"ids": (0, CONFIG.vocab)}


class CausalBlock(Block):
    """tinygpt.Block with the causal attention written out (same parameters)."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__(c)
        mask = torch.triu(torch.full((c.context, c.context), -10000.0), diagonal=1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5 + self.causal_mask[:t, :t]
        att = torch.softmax(scores, dim=-1) @ v
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))


class CausalTinyGPT(TinyGPT):
    """TinyGPT with CausalBlock blocks and the position table sliced (no arange in the graph)."""

    def __init__(self, c: GPTConfig = CONFIG) -> None:
        super().__init__(c)
        self.blocks = nn.ModuleList(CausalBlock(c) for _ in range(c.layers))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids) + self.pos.weight[:ids.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def _make() -> CausalTinyGPT:
    reference = TinyGPT(CONFIG)  # first, so the weights are exactly TinyGPT's under the seed
    model = CausalTinyGPT(CONFIG)
    model.load_state_dict(reference.state_dict())
    return model


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
    model = seeded(seed, _make).eval()
    return model, to_tensors(eval_data(1), INPUT_NAMES)
