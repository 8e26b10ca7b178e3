"""A model factory for the CLI, and the digits data as .npz.

    python examples/digits_cnn.py out/            # writes out/digits_train.npz and out/digits_test.npz
    edgekit compile examples/digits_cnn.py:build --target emu-phone --quantize int8 \
        --calibration out/digits_train.npz -o out/digits-int8
    edgekit bench out/digits-int8 --target emu-phone --eval out/digits_test.npz
"""
import sys
from pathlib import Path

import numpy as np
import torch

from edgekit.models.digits import load_digits_split, trained_digits_cnn


def build(epochs: int = 30):
    """Return (model, example_inputs): the CLI's `file.py:factory` contract."""
    model, split = trained_digits_cnn(epochs=epochs)
    return model, (torch.from_numpy(split.x_test[:1]),)


def build_quick():
    """A few epochs only: enough for tests of the pipeline, not for accuracy."""
    return build(epochs=5)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    split = load_digits_split()
    np.savez(out / "digits_train.npz", x=split.x_train, y=split.y_train)
    np.savez(out / "digits_test.npz", x=split.x_test, y=split.y_test)
    print(f"wrote {out / 'digits_train.npz'} and {out / 'digits_test.npz'}")
