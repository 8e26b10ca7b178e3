"""Affine quantization of tensors, as the manifest records it: real = scale * (q - zero_point)."""
from __future__ import annotations

from typing import Any

import numpy as np


def quantize(x: np.ndarray, dtype: str, quantization: dict[str, Any] | None) -> np.ndarray:
    """Float samples -> the model's input type, with the manifest's (scale, zero_point) when quantized."""
    if quantization is None or np.issubdtype(x.dtype, np.integer):
        return x.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    q = np.round(x / quantization["scale"]) + quantization["zero_point"]
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, quantization: dict[str, Any] | None) -> np.ndarray:
    if quantization is None:
        return y
    return ((y.astype(np.float32) - quantization["zero_point"]) * quantization["scale"]).astype(np.float32)
