"""Keyword spotting GRU (Hello Edge "GRU S": 1 layer of 154 units, last state -> Dense(12)) on 49x10 MFCCs.

Source: ARM-software/ML-KWS-for-MCU, models.py `create_gru_model` with model_size_info [1, 154] (Zhang et al.,
"Hello Edge: Keyword Spotting on Microcontrollers", arXiv:1711.07128). The cell is TensorFlow's GRUCell (the
original Cho et al. form, reset gate applied to the state before its matmul):

    r, u = sigmoid([x_t, h] W_g + b_g)          (b_g initialised to 1)
    c    = tanh([x_t, r * h] W_c + b_c)
    h    = u * h + (1 - u) * c

written as two nn.Linear over concatenations and unrolled over the 49 frames (a static Python loop: every
converter sees only linear / sigmoid / tanh / mul / add / cat, never an RNN op). Initialisation as the TF
reference: glorot-uniform kernels, gate bias 1, candidate bias 0; output layer xavier with zero bias.

Deviation: Hello Edge trained the GRU models on 25 frames (40 ms windows, 40 ms stride); this entry takes the
49-frame MLPerf Tiny / DS-CNN features (30 ms / 20 ms) so the audio models share their input. The parameter
count does not depend on the number of frames.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import CALIBRATION, EVAL, keras_glorot_uniform_, rng, seeded, to_tensors

NAME = "kws_gru"
FAMILY = "audio"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
PUBLISHED_PARAMS = 78_090  # GRUCell(154) on 10 features + Dense(154 -> 12)
SOURCE = ("ML-KWS-for-MCU models.py create_gru_model [1, 154] (github.com/ARM-software/ML-KWS-for-MCU; "
          "Zhang et al. 2017, Hello Edge, arXiv:1711.07128)")
DEVIATIONS = "49 frames (30 ms / 20 ms MFCCs) instead of Hello Edge's 25 (40 ms / 40 ms)"
FRAMES, COEFFS, UNITS, CLASSES = 49, 10, 154, 12


class GRUCell(nn.Module):
    def __init__(self, inputs: int, units: int) -> None:
        super().__init__()
        self.units = units
        self.gates = nn.Linear(inputs + units, 2 * units)
        self.candidate = nn.Linear(inputs + units, units)
        keras_glorot_uniform_(self.gates.weight)
        keras_glorot_uniform_(self.candidate.weight)
        nn.init.ones_(self.gates.bias)
        nn.init.zeros_(self.candidate.bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        ru = torch.sigmoid(self.gates(torch.cat([x, h], dim=1)))
        r, u = ru[:, :self.units], ru[:, self.units:]
        c = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        return u * h + (1.0 - u) * c


class GRUKWS(nn.Module):
    def __init__(self, frames: int = FRAMES, coeffs: int = COEFFS, units: int = UNITS, classes: int = CLASSES):
        super().__init__()
        self.frames = frames
        self.cell = GRUCell(coeffs, units)
        self.fc = nn.Linear(units, classes)
        keras_glorot_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, frames, coeffs); the initial state is zero, built from x so the graph has no constant batch.
        h = torch.zeros_like(x[:, 0, :1]).expand(-1, self.cell.units)
        for t in range(self.frames):
            h = self.cell(x[:, t, :], h)
        return self.fc(h)


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.mfcc(rng(seed, stream), n, FRAMES, COEFFS)}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 49, 10) float32 MFCCs, frames first}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, GRUKWS).eval()
    return model, to_tensors(eval_data(1), INPUT_NAMES)
