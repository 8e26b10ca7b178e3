"""A small byte-level GPT trained here on the Python documentation shipped with the standard library
(`pydoc_data.topics`), for measuring what weight quantization does to perplexity. Every Linear is an nn.Linear
(qkv, attention output, MLP, output head), so INT4 methods apply to all of them."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GPTConfig:
    vocab: int = 256  # bytes
    context: int = 128
    dim: int = 128
    layers: int = 4
    heads: int = 4


class Block(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.heads = c.heads
        self.ln1, self.ln2 = nn.LayerNorm(c.dim), nn.LayerNorm(c.dim)
        self.qkv, self.proj = nn.Linear(c.dim, 3 * c.dim), nn.Linear(c.dim, c.dim)
        self.fc1, self.fc2 = nn.Linear(c.dim, 4 * c.dim), nn.Linear(4 * c.dim, c.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyGPT(nn.Module):
    """Token ids (batch, time) -> next-byte logits (batch, time, 256)."""

    def __init__(self, c: GPTConfig = GPTConfig()) -> None:
        super().__init__()
        self.config = c
        self.tok, self.pos = nn.Embedding(c.vocab, c.dim), nn.Embedding(c.context, c.dim)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def pydoc_bytes(every: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) byte arrays: every `every`-th topic (sorted by name) is held out.

    Topics quote each other ('compound' contains the text of 'if'), so a training paragraph that also appears in
    a held-out topic is dropped: the held-out text is never seen in training.
    """
    import pydoc_data.topics
    items = sorted(pydoc_data.topics.topics.items())
    held = [text for i, (_, text) in enumerate(items) if i % every == every - 1]
    held_paras = {p.strip() for text in held for p in text.split("\n\n")}
    train, test = [], [text.encode("utf-8") for text in held]
    for i, (_, text) in enumerate(items):
        if i % every != every - 1:
            paras = [p for p in text.split("\n\n") if p.strip() not in held_paras]
            train.append("\n\n".join(paras).encode("utf-8"))
    return (np.frombuffer(b"\n".join(train), np.uint8).astype(np.int64),
            np.frombuffer(b"\n".join(test), np.uint8).astype(np.int64))


def windows(data: np.ndarray, context: int, count: int, seed: int | None = None) -> np.ndarray:
    """`count` windows of context + 1 bytes: random starts (seed given) or consecutive non-overlapping ones."""
    if seed is None:
        starts = np.arange(count) * context
        starts = starts[starts + context + 1 <= len(data)]
    else:
        starts = np.random.default_rng(seed).integers(0, len(data) - context - 1, count)
    return np.stack([data[s:s + context + 1] for s in starts])


def train_gpt(train: np.ndarray, config: GPTConfig = GPTConfig(), steps: int = 1500, batch: int = 32,
              lr: float = 3e-3, seed: int = 0, max_seconds: float | None = None,
              log=lambda *a: None, model: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """AdamW with warm-up and cosine decay; stops early after `max_seconds` (reported). Trains a new TinyGPT, or
    `model` (any module mapping ids (B, T) to logits (B, T, vocab), e.g. models.llama.Llama) on windows of
    `config.context` bytes."""
    torch.manual_seed(seed)
    model = TinyGPT(config) if model is None else model
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps,
                                                pct_start=max(0.05, 2 / steps))
    t0, done = time.time(), 0
    model.train()
    for step in range(steps):
        w = torch.from_numpy(windows(train, config.context, batch, seed=seed * 100003 + step))
        loss = F.cross_entropy(model(w[:, :-1]).flatten(0, 1), w[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        done = step + 1
        if step % 100 == 0:
            log(f"step {step} loss {loss.item():.3f}")
        if max_seconds is not None and time.time() - t0 > max_seconds:
            break
    return model.eval(), {"steps": done, "planned_steps": steps, "batch": batch, "lr": lr,
                          "train_s": round(time.time() - t0, 1)}


def perplexity(model: nn.Module, data: np.ndarray, context: int, count: int = 200, batch: int = 25) -> float:
    """exp(mean next-byte cross-entropy) over `count` consecutive non-overlapping windows of `data`."""
    w = torch.from_numpy(windows(data, context, count))
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(w), batch):
            chunk = w[i:i + batch]
            logits = model(chunk[:, :-1])
            total += F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
            n += chunk[:, 1:].numel()
    return math.exp(total / n)
