"""BERT-Mini (L=4, H=256, A=4, intermediate 1024, uncased WordPiece vocabulary of 30,522) on 32 tokens, taking
`input_ids` and `attention_mask` and returning the last hidden state.

Source: google-research/bert (modeling.py; the L-4/H-256 checkpoint of Turc et al., "Well-Read Students Learn
Better", arXiv:1908.08962), Devlin et al. (arXiv:1810.04805); parameter layout of Hugging Face's BertModel
(the all-MiniLM-L6-v2 encoder of edgekit/models/minilm.py is the same architecture at L=6, H=384). Post-norm
blocks: embeddings (word + position + token type 0) - LayerNorm(eps 1e-12); 4 x [separate q/k/v Linear, scores
/ sqrt(64) + additive mask, softmax, context, dense - LayerNorm(x + .), Linear 1024 - exact GELU - Linear 256 -
LayerNorm(x + .)]. The mask is made arithmetically, (1 - mask) * -10000 added to the scores (as the original
modeling.py), so no boolean indexing reaches the graph. Initialisation as BERT: N(0, 0.02) for Linear and
Embedding weights, zero biases, LayerNorm 1/0.

Deviations: no pooler (the [CLS] dense + tanh head; not used for token or mean-pooled outputs, like
minilm.py), no token_type_ids input (always segment 0).
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import CALIBRATION, EVAL, rng, seeded, to_tensors

NAME = "bert_mini"
FAMILY = "nlp"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("last_hidden_state",)
MCU_SIZED = False
PUBLISHED_PARAMS = 11_104_768  # google/bert_uncased_L-4_H-256_A-4 without the pooler (11,170,560 with it)
SOURCE = ("google-research/bert BERT-Mini L-4/H-256/A-4 (Turc et al. 2019, arXiv:1908.08962; Devlin et al. "
          "2019, arXiv:1810.04805)")
DEVIATIONS = "no pooler; token_type_ids fixed at 0 (not an input)"
VOCAB, SEQ, HIDDEN, LAYERS, HEADS, FFN, MAX_POS = 30522, 32, 256, 4, 4, 1024, 512
INT_RANGES = {"input_ids": (0, VOCAB), "attention_mask": (0, 2)}


class Embeddings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, HIDDEN, padding_idx=0)
        self.position_embeddings = nn.Embedding(MAX_POS, HIDDEN)
        self.token_type_embeddings = nn.Embedding(2, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        x = self.word_embeddings(input_ids) + self.position_embeddings.weight[:t] + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(HIDDEN, HIDDEN) for _ in range(3))
        self.attention_output = nn.Linear(HIDDEN, HIDDEN)
        self.attention_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.intermediate = nn.Linear(HIDDEN, FFN)
        self.act = nn.GELU()
        self.output = nn.Linear(FFN, HIDDEN)
        self.output_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, HEADS, HIDDEN // HEADS).transpose(1, 2)  # (B, heads, T, d)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = q @ k.transpose(-2, -1) * (HIDDEN // HEADS) ** -0.5 + additive_mask
        ctx = (self.dropout(torch.softmax(scores, dim=-1)) @ v).transpose(1, 2).reshape(b, t, HIDDEN)
        x = self.attention_norm(x + self.dropout(self.attention_output(ctx)))
        return self.output_norm(x + self.dropout(self.output(self.act(self.intermediate(x)))))


class BertEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embeddings = Embeddings()
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.embeddings.word_embeddings.weight[0])  # padding_idx row, as HF's _init_weights

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        additive = (1.0 - attention_mask.to(x.dtype))[:, None, None, :] * -10000.0  # (B, 1, 1, T)
        for layer in self.layers:
            x = layer(x, additive)
        return x


def _data_for(n: int, seed: int, stream: int) -> dict:
    ids, mask = _data.token_ids(rng(seed, stream), n, SEQ, VOCAB)
    return {"input_ids": ids, "attention_mask": mask}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"input_ids": (n, 32) int64 in [0, 30522), "attention_mask": (n, 32) int64 1 then 0 over the padding}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, BertEncoder).eval()
    return model, to_tensors(eval_data(1), INPUT_NAMES)
