"""A Hugging Face `transformers` text encoder used as it comes: `DistilBertModel` built from a small
`DistilBertConfig` (no wrapper), taking `input_ids` and `attention_mask` and returning a `BaseModelOutput`, not a
tensor; edgekit names its one tensor after its key, `last_hidden_state`. 32 tokens of the uncased WordPiece
vocabulary (30,522).

Source: transformers' DistilBERT (models/distilbert/modeling_distilbert.py: word + learned position embeddings -
LayerNorm(eps 1e-12); per block multi-head self-attention with the padding mask - LayerNorm(x + .), Linear - GELU -
Linear - LayerNorm(x + .); no token types, no pooler), Sanh et al., "DistilBERT, a distilled version of BERT"
(arXiv:1910.01108). DistilBERT keeps its teacher's width and takes half its layers; here the teacher is the zoo's
bert_mini (BERT-Mini, L=4, H=256), so:

    DistilBertConfig(vocab_size=30522, dim=256, n_layers=2, n_heads=4, hidden_dim=1024,
                     max_position_embeddings=512)

The attention is whatever transformers picks by default (its `sdpa` implementation when torch has it), as a user
gets it. Initialisation is transformers' own (`post_init`: N(0, 0.02) Linear and Embedding weights, zero biases,
[PAD] row 0, LayerNorm 1/0) under a fixed seed.

Deviations from distilbert-base-uncased: 256 wide, 4 heads, 2 layers, FFN 1024 instead of 768 / 12 / 6 / 3072
(the DistilBERT recipe applied to BERT-Mini instead of BERT-base); 32-token inputs.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo._common import seeded, to_tensors
from edgekit.models.zoo.bert_mini import calibration_data, eval_data  # noqa: F401  (the same word pieces)

NAME = "hf_distilbert_encoder"
FAMILY = "nlp"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("last_hidden_state",)
MCU_SIZED = False
PUBLISHED_PARAMS = None  # scaled down from distilbert-base-uncased (66.4 M): no published count at this size
SOURCE = ("transformers DistilBertModel (models/distilbert/modeling_distilbert.py; Sanh et al. 2019, "
          "arXiv:1910.01108), half of BERT-Mini's layers at its width")
DEVIATIONS = "dim 256, 4 heads, 2 layers, FFN 1024 (distilbert-base: 768 / 12 / 6 / 3072); 32 tokens"
VOCAB, SEQ = 30522, 32
CONFIG = dict(vocab_size=VOCAB, dim=256, n_layers=2, n_heads=4, hidden_dim=1024, max_position_embeddings=512)
INT_RANGES = {"input_ids": (0, VOCAB), "attention_mask": (0, 2)}


def _make() -> nn.Module:
    from transformers import DistilBertConfig, DistilBertModel
    return DistilBertModel(DistilBertConfig(**CONFIG))


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, _make).eval()
    return model, to_tensors(eval_data(1), INPUT_NAMES)
