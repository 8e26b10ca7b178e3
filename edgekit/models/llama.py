"""A LLaMA-architecture decoder (RMSNorm, rotary embeddings, SwiGLU, grouped-query attention) with a static KV cache.

Two ways to call it:
- `model(tokens)`: the whole sequence, causal, no cache (training and perplexity), logits for every position;
- `model(tokens, input_pos)`: the generation step the device runs. `tokens` (1, T) are written into the cache at
  positions `input_pos` (T,), attention reads the cache up to each token's position, and the logits of the last
  token come back, (1, vocab). A prompt is one call with T = its length (prefill); each new token is a call with
  T = 1 (decode). The cache is a pair of buffers per layer, so an exported program keeps it as mutable state.

Stale cache entries past a token's position are masked, not cleared: a new prompt simply overwrites from 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LlamaConfig:
    vocab: int = 256
    dim: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    hidden: int = 384  # SwiGLU width
    max_seq_len: int = 256
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def kv_cache_bytes(self, bytes_per_value: int = 4) -> int:
        return 2 * self.layers * self.kv_heads * self.max_seq_len * self.head_dim * bytes_per_value


# Trained here on the Python docs (bytes), for quality; about 0.9 M parameters.
SMALL = LlamaConfig()
# About 100 M parameters with seeded random weights, for speed and memory (LLaMA-style widths, GQA 12:4).
BASE_100M = LlamaConfig(vocab=16000, dim=768, layers=12, heads=12, kv_heads=4, hidden=2048, max_seq_len=256)
# Small enough for a test to compile and generate with in seconds.
TINY = LlamaConfig(vocab=256, dim=64, layers=1, heads=4, kv_heads=2, hidden=128, max_seq_len=96)

CONFIGS = {"small": SMALL, "100m": BASE_100M, "tiny": TINY}


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(c: LlamaConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, (max_seq_len, head_dim / 2)."""
    inv = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.float64) / c.head_dim))
    angles = torch.outer(torch.arange(c.max_seq_len, dtype=torch.float64), inv)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of each head's features; cos and sin broadcast against x's halves."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c.heads, c.kv_heads, c.head_dim
        self.wq = nn.Linear(c.dim, c.heads * c.head_dim, bias=False)
        self.wk = nn.Linear(c.dim, c.kv_heads * c.head_dim, bias=False)
        self.wv = nn.Linear(c.dim, c.kv_heads * c.head_dim, bias=False)
        self.wo = nn.Linear(c.heads * c.head_dim, c.dim, bias=False)
        shape = (1, c.kv_heads, c.max_seq_len, c.head_dim)
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, input_pos: torch.Tensor | None,
                mask_bias: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        group = self.heads // self.kv_heads
        # (b, t, heads, hd) layout for RoPE, whose tables are per position: (t, 1, hd / 2) broadcasts over heads.
        q = apply_rope(self.wq(x).view(b, t, self.heads, self.head_dim), cos.unsqueeze(1), sin.unsqueeze(1))
        k = apply_rope(self.wk(x).view(b, t, self.kv_heads, self.head_dim), cos.unsqueeze(1), sin.unsqueeze(1))
        k, v = k.transpose(1, 2), self.wv(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        if input_pos is not None:
            self.k_cache.index_copy_(2, input_pos, k)
            self.v_cache.index_copy_(2, input_pos, v)
            k, v = self.k_cache, self.v_cache
        # Grouped-query attention without copying K and V per query head: the query heads that share a KV head are
        # stacked along the sequence axis (row t * group + j), so every matmul is a plain batched one (XNNPACK's)
        # and the cache is read once per KV head rather than expanded (12 MB of copies per token at 100 M).
        q = q.view(b, t, self.kv_heads, group, self.head_dim).transpose(1, 2).reshape(
            b, self.kv_heads, t * group, self.head_dim)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.head_dim ** -0.5 + mask_bias
        out = torch.matmul(torch.softmax(scores, dim=-1), v)  # (b, kv_heads, t * group, hd)
        return self.wo(out.view(b, self.kv_heads, t, group * self.head_dim).transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(c.dim, c.hidden, bias=False)  # gate
        self.w3 = nn.Linear(c.dim, c.hidden, bias=False)  # up
        self.w2 = nn.Linear(c.hidden, c.dim, bias=False)  # down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.attention_norm, self.ffn_norm = RMSNorm(c.dim, c.norm_eps), RMSNorm(c.dim, c.norm_eps)
        self.attention, self.feed_forward = Attention(c), FeedForward(c)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, input_pos: torch.Tensor | None,
                mask_bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin, input_pos, mask_bias)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    """Token ids -> next-token logits; see the module docstring for the two calling conventions."""

    def __init__(self, c: LlamaConfig = SMALL) -> None:
        super().__init__()
        self.config = c
        self.vocab_size, self.max_seq_len = c.vocab, c.max_seq_len
        self.tok_embeddings = nn.Embedding(c.vocab, c.dim)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.output = nn.Linear(c.dim, c.vocab, bias=False)
        cos, sin = rope_tables(c)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, tokens: torch.Tensor, input_pos: torch.Tensor | None = None) -> torch.Tensor:
        t = tokens.shape[1]
        if input_pos is None:  # the whole sequence: causal over itself
            positions, keys = torch.arange(t), torch.arange(t)
            cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        else:  # each token sees the cache up to its own position; later slots hold stale or no values
            positions, keys = input_pos, torch.arange(self.max_seq_len)
            cos, sin = self.rope_cos[input_pos], self.rope_sin[input_pos]
        visible = keys.unsqueeze(0) <= positions.unsqueeze(1)
        # One additive mask for every layer, tiled for the query heads that share a KV head (see Attention).
        mask_bias = torch.where(visible, 0.0, float("-inf")).repeat_interleave(
            self.config.heads // self.config.kv_heads, dim=0)
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, input_pos, mask_bias)
        if input_pos is not None:
            x = x[:, -1, :]  # generation needs only the last token's logits: skip the head for the rest
        return self.output(self.norm(x))

    def describe(self) -> dict:
        return {"architecture": "llama", **asdict(self.config),
                "params": sum(p.numel() for p in self.parameters())}


def init_weights(model: Llama, seed: int) -> Llama:
    """Seeded GPT-2/LLaMA-style initialisation: normal(0, 0.02), output projections scaled by depth."""
    gen = torch.Generator().manual_seed(seed)
    depth_scale = (2 * model.config.layers) ** -0.5
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                continue  # norm gains stay 1
            std = 0.02 * (depth_scale if name.endswith(("wo.weight", "w2.weight")) else 1.0)
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def llama(size: str = "small", seed: int = 0) -> Llama:
    """A decoder of a named size ('small', '100m', 'tiny') with seeded random weights."""
    return init_weights(Llama(CONFIGS[size]), seed).eval()



def _factory(size: str, seed: int = 0, prompt_len: int = 32) -> tuple[Llama, torch.Tensor]:
    model = llama(size, seed)
    prompt = torch.randint(0, model.vocab_size, (1, prompt_len), generator=torch.Generator().manual_seed(seed))
    return model, prompt


def build_100m() -> tuple[Llama, torch.Tensor]:
    """CLI factory (`edgekit/models/llama.py:build_100m`): the ~100 M decoder and a 32-token example prompt."""
    return _factory("100m")


def build_tiny() -> tuple[Llama, torch.Tensor]:
    """CLI factory: a decoder small enough to compile and generate with in seconds, and a 16-token prompt."""
    return _factory("tiny", prompt_len=16)


def trained_llama(steps: int = 1500, context: int = 128, size: str = "small", cache: bool = True,
                  log=lambda *a: None) -> tuple[Llama, dict]:
    """The decoder of `size` trained on the Python docs' bytes (models.tinygpt.pydoc_bytes, training split) for
    `steps` AdamW steps on `context`-byte windows; kept under $EDGEKIT_CACHE/models so a rerun skips training."""
    import os
    from pathlib import Path

    from .tinygpt import GPTConfig, pydoc_bytes, train_gpt
    root = Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "models"
    path = root / f"llama-{size}-c{context}-s{steps}.pt"
    model = Llama(CONFIGS[size])
    if cache and path.is_file():
        saved = torch.load(path)
        model.load_state_dict(saved["state"], strict=False)  # the KV cache and RoPE tables are not saved
        return model.eval(), saved["info"]
    model, info = train_gpt(pydoc_bytes()[0], GPTConfig(context=context), steps=steps, batch=32, log=log, model=model)
    if cache:
        root.mkdir(parents=True, exist_ok=True)
        torch.save({"state": model.state_dict(), "info": info}, path)
    return model.eval(), info
