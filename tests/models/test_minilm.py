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
