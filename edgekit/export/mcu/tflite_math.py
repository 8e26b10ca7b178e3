"""TFLite's host-side quantization arithmetic, reproduced exactly (tensorflow/lite/kernels/internal/
quantization_util.cc, kernel_util.cc, padding.h) so the firmware's integers equal TFLite Micro's."""
from __future__ import annotations

import math

import numpy as np

from ...errors import UnsupportedError

# TfLiteFusedActivation
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3
PADDING_SAME, PADDING_VALID = 0, 1


def _round_half_away(x: float) -> int:
    """std::round: halves away from zero (Python's round() rounds halves to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:  # flushed to zero, as TFLite does
        return 0, 0
    return q_fixed, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    m, shift = quantize_multiplier(real)
    if shift > 0:
        raise UnsupportedError(f"a requantization scale {real:g} >= 1 where TFLite requires < 1")
    return m, shift


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 outputs (the quantize step in float32, as TFLite does)."""
    def quantize(f: float) -> int:
        return int(zero_point) + _round_half_away(float(np.float32(f) / np.float32(scale)))
    if activation == ACT_NONE:
        return -128, 127
    if activation == ACT_RELU:
        return max(-128, quantize(0.0)), 127
    if activation == ACT_RELU6:
        return max(-128, quantize(0.0)), min(127, quantize(6.0))
    if activation == ACT_RELU_N1_TO_1:
        return max(-128, quantize(-1.0)), min(127, quantize(1.0))
    raise UnsupportedError(f"fused activation code {activation} is not supported on the MCU (relu, relu6, "
                           "relu_n1_to_1 are)")


def out_size(padding: int, size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    effective = (filter_size - 1) * dilation + 1
    if padding == PADDING_SAME:
        return (size + stride - 1) // stride
    return (size + stride - effective) // stride


def padding_before(stride: int, dilation: int, in_size: int, filter_size: int, out: int) -> int:
    """ComputePaddingWithOffset: the top/left padding (TFLite puts an odd extra row at the bottom/right)."""
    return padding(stride, dilation, in_size, filter_size, out)[0]


def padding(stride: int, dilation: int, in_size: int, filter_size: int, out: int) -> tuple[int, int]:
    """(before, after): ComputePaddingWithOffset's padding and the rest of the total at the bottom/right, so that
    (in_size + before + after - effective filter) // stride + 1 == out."""
    effective = (filter_size - 1) * dilation + 1
    total = max(0, (out - 1) * stride + effective - in_size)
    return total // 2, total - total // 2


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + CalculateInputRadius for int8 (5 integer bits): multiplier, left shift, diff_min."""
    int_bits = 5
    real = min(float(beta) * float(input_scale) * (1 << (31 - int_bits)), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise UnsupportedError("softmax input scale too small for TFLite's int8 softmax")
    radius = math.floor(1.0 * ((1 << int_bits) - 1) * (1 << (31 - int_bits)) / (1 << left_shift))
    return multiplier, left_shift, -int(radius)


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's multiplier with 1/count folded in, exactly as TFLite adjusts it."""
    multiplier, shift = quantize_multiplier(float(input_scale) / float(output_scale))
    fold = min(count.bit_length() - 1, 32, 31 + shift)  # 63 - clz64(count) = floor(log2(count)), clamped
    return (multiplier << fold) // count, shift - fold
