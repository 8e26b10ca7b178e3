import math

import numpy as np
import torch

from edgekit.models.tinygpt import GPTConfig, TinyGPT, perplexity, pydoc_bytes, train_gpt, windows


def test_pydoc_split_is_disjoint_bytes_and_windows_shapes():
    train, test = pydoc_bytes()
    assert len(train) > 4 * len(test) > 0 and train.max() < 256
    w = windows(test, 32, 10)
    assert w.shape == (10, 33) and np.array_equal(w[1, :32], test[32:64])


def test_a_few_training_steps_lower_perplexity_below_uniform():
    train, test = pydoc_bytes()
    cfg = GPTConfig(dim=32, layers=1, heads=2, context=32)
    untrained = TinyGPT(cfg).eval()
    assert perplexity(untrained, test, 32, count=8) > 150  # about uniform over 256 bytes
    model, info = train_gpt(train, cfg, steps=30, batch=16, lr=1e-2)
    assert info["steps"] == 30
    assert perplexity(model, test, 32, count=8) < 40
    logits = model(torch.zeros(2, 32, dtype=torch.long))
    assert logits.shape == (2, 32, 256)
