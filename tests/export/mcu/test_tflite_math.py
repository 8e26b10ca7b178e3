"""TFLite's host-side quantization arithmetic: values worked out by hand from TFLite's definitions."""
import math

import numpy as np
import pytest

from edgekit.errors import UnsupportedError
from edgekit.export.mcu import tflite_math as quant


def test_quantize_multiplier_exact_powers():
    assert quant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier(1.0) == (1 << 30, 1)
    assert quant.quantize_multiplier(0.25) == (1 << 30, -1)
    assert quant.quantize_multiplier(0.0) == (0, 0)


def test_quantize_multiplier_rounds_halves_away_from_zero():
    # q = (2^30 + 0.5) / 2^31 makes q * 2^31 end in exactly .5: std::round goes up, Python's round() would not
    real = (2 ** 30 + 0.5) / 2 ** 31
    assert quant.quantize_multiplier(real) == (2 ** 30 + 1, 0)


def test_quantize_multiplier_carries_into_shift_and_flushes_tiny():
    just_below_one = 1.0 - 2.0 ** -40  # rounds to 2^31 -> halved, shift + 1
    assert quant.quantize_multiplier(just_below_one) == (1 << 30, 1)
    assert quant.quantize_multiplier(2.0 ** -40) == (0, 0)


@pytest.mark.parametrize("real", [0.0123, 3.7e-5, 0.999, 1.75, 123.0])
def test_quantize_multiplier_reconstructs(real):
    m, shift = quant.quantize_multiplier(real)
    assert 1 << 30 <= m < 1 << 31
    assert math.isclose(m * 2.0 ** (shift - 31), real, rel_tol=2 ** -30)


def test_smaller_than_one_rejects_large():
    with pytest.raises(UnsupportedError):
        quant.quantize_multiplier_smaller_than_one(1.5)


def test_activation_ranges():
    assert quant.activation_range(quant.ACT_NONE, 0.1, 3) == (-128, 127)
    assert quant.activation_range(quant.ACT_RELU, 0.1, -128) == (-128, 127)
    assert quant.activation_range(quant.ACT_RELU, 0.1, -20) == (-20, 127)
    assert quant.activation_range(quant.ACT_RELU6, 0.05, -128) == (-128, -128 + 120)
    assert quant.activation_range(quant.ACT_RELU_N1_TO_1, 0.01, 0) == (-100, 100)
    with pytest.raises(UnsupportedError):
        quant.activation_range(4, 0.1, 0)  # TANH is not a fused activation the kernels clamp


def test_padding_matches_tflite_rules():
    # SAME, 8 -> 8 with a 3x3 filter: one row each side; 2x2 stride 2 on 7: out 4, total pad 1 (all at the end)
    assert quant.out_size(quant.PADDING_SAME, 8, 3, 1) == 8
    assert quant.padding_before(1, 1, 8, 3, 8) == 1
    assert quant.out_size(quant.PADDING_SAME, 7, 2, 2) == 4
    assert quant.padding_before(2, 1, 7, 2, 4) == 0
    assert quant.out_size(quant.PADDING_VALID, 8, 3, 1) == 6
    assert quant.padding_before(1, 1, 8, 3, 6) == 0


def test_softmax_params():
    multiplier, left_shift, diff_min = quant.softmax_params(1.0, 1 / 16)
    # beta * scale * 2^26 = 2^22 exactly -> multiplier 2^30, shift 23
    assert (multiplier, left_shift) == (1 << 30, 23)
    assert diff_min == -math.floor(31 * 2 ** 26 / 2 ** 23)


def test_mean_multiplier_folds_count():
    m, shift = quant.mean_multiplier(0.5, 0.5, 16)  # scale ratio 1 -> (2^30, 1); / 16 -> shift 1 - 4
    assert (m, shift) == (1 << 30, -3)
    m, shift = quant.mean_multiplier(0.5, 0.25, 3)  # ratio 2 = (2^30, 2); fold floor(log2 3) = 1
    assert shift == 1 and m == (2 ** 30 << 1) // 3
    assert np.isclose(m * 2.0 ** (shift - 31), 2 / 3, rtol=1e-8)
