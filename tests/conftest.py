"""Shared fixtures: a digits model trained once per session, and its data as .npz files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def digits():
    from edgekit.models.digits import trained_digits_cnn
    model, split = trained_digits_cnn(epochs=12)
    return model, split


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory, digits):
    _, split = digits
    d = tmp_path_factory.mktemp("data")
    np.savez(d / "train.npz", x=split.x_train, y=split.y_train)
    np.savez(d / "test.npz", x=split.x_test, y=split.y_test)
    return d / "train.npz", d / "test.npz"


@pytest.fixture(scope="session")
def digits_example(digits):
    _, split = digits
    return (torch.from_numpy(split.x_test[:1]),)
