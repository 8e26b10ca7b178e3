"""Keyword spotting LSTM (Hello Edge "LSTM S": one LSTM layer of 144 cells with a 98-unit output projection, its
last output -> Dense(12)) on 49x10 MFCCs, written with PyTorch's own `nn.LSTM` as a user would.

Source: ARM-software/ML-KWS-for-MCU, models.py `create_lstm_model` with model_size_info [98, 144] (projection
size, memory cells), after Sak et al.'s LSTMP (arXiv:1402.1128) as used by Sainath and Parada for keyword spotting
(arXiv:1705.02411); Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers", arXiv:1711.07128. Here:

    nn.LSTM(10, 144, proj_size=98, batch_first=True)  over the 49 frames, zero initial state
    last time step's output (98) -> Linear(98, 12) logits

Initialisation as the TF reference: glorot-uniform input and recurrent kernels (with the fans of the single
(10 + 98) x 576 kernel TF's LSTMCell keeps them in), forget-gate bias 1 and the other biases 0 (TF's
forget_bias=1.0 added to a zero bias), glorot-uniform projection and output layer, zero output bias.

Deviations: no peephole connections (TF's use_peepholes=True; `nn.LSTM` has none: 432 fewer parameters);
PyTorch's two bias vectors (b_ih, b_hh: 576 more, b_hh zero); 49 frames (the MLPerf Tiny / DS-CNN 30 ms / 20 ms
MFCCs, shared with the zoo's other audio models) instead of Hello Edge's 25 (40 ms / 40 ms); logits (no softmax).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from edgekit.models.zoo._common import keras_glorot_uniform_, seeded, to_tensors
from edgekit.models.zoo.kws_gru import calibration_data, eval_data  # noqa: F401  (the same MFCC frames)

NAME = "lstm_kws"
FAMILY = "audio"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("logits",)
MCU_SIZED = True
# TF LSTMCell(144, num_proj=98, use_peepholes=True) on 10 features: kernel (10 + 98) x 576 + bias 576 + peepholes
# 3 x 144 + projection 144 x 98 = 77,328; Dense(98 -> 12) 1,188.
PUBLISHED_PARAMS = 78_516
SOURCE = ("ML-KWS-for-MCU models.py create_lstm_model [98, 144] (github.com/ARM-software/ML-KWS-for-MCU; "
          "Zhang et al. 2017, Hello Edge, arXiv:1711.07128)")
DEVIATIONS = ("no peepholes and two bias vectors (nn.LSTM); 49 frames (30 ms / 20 ms MFCCs) instead of 25 "
              "(40 ms / 40 ms); logits")
COEFFS, CELLS, PROJ, CLASSES = 10, 144, 98, 12


class LSTMKWS(nn.Module):
    def __init__(self, coeffs: int = COEFFS, cells: int = CELLS, proj: int = PROJ, classes: int = CLASSES) -> None:
        super().__init__()
        self.lstm = nn.LSTM(coeffs, cells, proj_size=proj, batch_first=True)
        self.fc = nn.Linear(proj, classes)
        # TF's LSTMCell holds W_ih and W_hh as one (inputs + proj, 4 cells) kernel: glorot over those fans
        bound = math.sqrt(6.0 / (coeffs + proj + 4 * cells))
        nn.init.uniform_(self.lstm.weight_ih_l0, -bound, bound)
        nn.init.uniform_(self.lstm.weight_hh_l0, -bound, bound)
        keras_glorot_uniform_(self.lstm.weight_hr_l0)
        keras_glorot_uniform_(self.fc.weight)
        for b in (self.lstm.bias_ih_l0, self.lstm.bias_hh_l0, self.fc.bias):
            nn.init.zeros_(b)
        with torch.no_grad():
            self.lstm.bias_ih_l0[cells:2 * cells] = 1.0  # gate order i, f, g, o: forget bias 1 (TF's forget_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (batch, frames, proj)
        return self.fc(out[:, -1])


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, LSTMKWS).eval()
    return model, to_tensors(eval_data(1), INPUT_NAMES)
