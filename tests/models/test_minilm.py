import numpy as np

from edgekit.models.minilm import topic_accuracy, topic_sentences, topic_split


def test_topic_accuracy_on_separable_and_random_embeddings():
    g = np.random.default_rng(0)
    topics = np.repeat(np.arange(4), 10)
    centers = g.normal(size=(4, 32)) * 5
    assert topic_accuracy(centers[topics] + g.normal(size=(40, 32)), topics) == 1.0
    assert topic_accuracy(g.normal(size=(40, 32)), topics) < 0.6


def test_held_out_topics_are_disjoint_from_training_sentences():
    split = topic_split()
    assert len(split.test) == len(split.test_topics) and split.test_topics.max() >= 5
    assert not set(split.test) & set(split.train)
    assert all(40 <= len(s) <= 240 for s in split.train[:100])
    assert not any("::=" in s or ">>>" in s for s in topic_sentences()["if"])


# ---- the encoder (edgekit/models/minilm.py: build, build_tiny) ----------------------------------------------------

import torch  # noqa: E402

from edgekit.modelio import input_names  # noqa: E402
from edgekit.models.minilm import TINY, build, build_tiny, load_tokenizer, tokenize  # noqa: E402


def test_tiny_encoder_takes_ids_and_mask_and_returns_unit_embeddings():
    model, (ids, mask) = build_tiny()
    assert input_names(model, 2) == ("input_ids", "attention_mask")  # what edgekit names the inputs
    assert ids.dtype == mask.dtype == torch.int64 and ids.shape == mask.shape == (1, 16)
    assert 0 < int(mask.sum()) < 16 and int(ids.max()) < TINY.vocab
    with torch.no_grad():
        out = model(torch.cat([ids, ids.flip(1)]), torch.cat([mask, mask.flip(1)]))
    assert out.shape == (2, TINY.hidden)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    assert not torch.allclose(out[0], out[1], atol=1e-3)  # different tokens, different embeddings


def test_padding_with_mask_zero_does_not_change_the_embedding():
    model, (ids, mask) = build_tiny()
    n = int(mask.sum())
    g = torch.Generator().manual_seed(0)
    noisy = ids.clone()
    noisy[:, n:] = torch.randint(1000, TINY.vocab, (1, 16 - n), generator=g)  # junk where the mask is 0
    longer_ids = torch.cat([ids, torch.zeros(1, 16, dtype=torch.int64)], dim=1)  # 16 more padding positions
    longer_mask = torch.cat([mask, torch.zeros(1, 16, dtype=torch.int64)], dim=1)
    changed = ids.clone()
    changed[0, 1] = 4242  # a real token
    with torch.no_grad():
        ref = model(ids, mask)
        torch.testing.assert_close(model(noisy, mask), ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(model(longer_ids, longer_mask), ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(model(ids), ref, atol=1e-6, rtol=0)  # one input: the mask from pad ids
        assert (model(changed, mask) - ref).abs().max() > 1e-3


def test_pretrained_encoder_matches_bertmodel_and_ranks_a_paraphrase_first():
    model, (ids, mask) = build()
    assert ids.shape == (1, 64) and model.bert.config.num_hidden_layers == 6 and model.bert.config.hidden_size == 384
    sentences = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    ids = torch.from_numpy(tokenize(load_tokenizer(), sentences, 16))
    mask = (ids != 0).long()
    with torch.no_grad():
        emb = model(ids, mask)
        hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # Hugging Face's own masking
    m = mask.unsqueeze(-1).float()
    torch.testing.assert_close(emb, torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1))
    sim = emb @ emb.T
    assert sim[0, 1] > 0.6 > 0.2 > sim[0, 2]
