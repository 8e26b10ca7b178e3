"""MLPerf Tiny anomaly detection reference model: the fully connected autoencoder of the DCASE 2020 task 2
baseline, on 640-dimensional log-mel vectors (128 mel bins x 5 frames).

Source: mlcommons/tiny, benchmark/training/anomaly_detection/keras_model.py (`get_model`, Hitachi's DCASE 2020
baseline; Koizumi et al., "Description and Discussion on DCASE2020 Challenge Task2", arXiv:2006.05822). Layer for
layer:

    4 x [Dense(128) - BN - ReLU]  -  Dense(8) - BN - ReLU  -  4 x [Dense(128) - BN - ReLU]  -  Dense(640)

Features (common.py, baseline.yaml): 10 log10 of the power mel spectrogram (n_fft 1024, hop 512, 128 mels),
five consecutive frames concatenated frame after frame. The output is the reconstruction of the input vector
(the anomaly score is its mean squared error). Initialisation as Keras: glorot-uniform kernels, zero biases, BN
eps 1e-3. No deviation.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekit.models.zoo import _data
from edgekit.models.zoo._common import (BN_STATS, CALIBRATION, EVAL, calibrate_batchnorm, keras_glorot_uniform_,
                                        rng, seeded, to_tensors)

NAME = "ad_autoencoder"
FAMILY = "mlperf-tiny"
INPUT_NAMES = ("x",)
OUTPUT_NAMES = ("reconstruction",)
MCU_SIZED = True
PUBLISHED_PARAMS = 267_928  # trainable; Keras' summary adds 2,064 BN moving statistics (269,992)
SOURCE = ("MLPerf Tiny AD reference (github.com/mlcommons/tiny benchmark/training/anomaly_detection/"
          "keras_model.py); DCASE 2020 task 2 baseline, Koizumi et al. 2020, arXiv:2006.05822")
DEVIATIONS = ""
MELS, FRAMES = 128, 5
DIM = MELS * FRAMES


def _dense_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Linear(cin, cout), nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01), nn.ReLU()]


class DenseAutoencoder(nn.Module):
    def __init__(self, dim: int = DIM, hidden: int = 128, bottleneck: int = 8) -> None:
        super().__init__()
        enc = _dense_bn_relu(dim, hidden)
        for _ in range(3):
            enc += _dense_bn_relu(hidden, hidden)
        enc += _dense_bn_relu(hidden, bottleneck)
        dec = _dense_bn_relu(bottleneck, hidden)
        for _ in range(3):
            dec += _dense_bn_relu(hidden, hidden)
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.fc = nn.Linear(hidden, dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                keras_glorot_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.decoder(self.encoder(x)))


def _data_for(n: int, seed: int, stream: int) -> dict:
    return {"x": _data.log_mel_vectors(rng(seed, stream), n, MELS, FRAMES)}


def calibration_data(n: int, seed: int = 0) -> dict:
    """{"x": (n, 640) float32 log-mel energies in dB, five 128-bin frames one after the other}."""
    return _data_for(n, seed, CALIBRATION)


def eval_data(n: int, seed: int = 0) -> dict:
    return _data_for(n, seed, EVAL)


def build(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = seeded(seed, DenseAutoencoder)
    calibrate_batchnorm(model, [to_tensors(_data_for(512, seed, BN_STATS), INPUT_NAMES, slice(None))])
    return model, to_tensors(eval_data(1), INPUT_NAMES)
