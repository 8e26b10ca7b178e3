"""Tables for the int8 functions of one value (HARD_SWISH, LOGISTIC, TANH, int8 -> int8 QUANTIZE): TFLite Micro's
integer arithmetic for each of the 256 inputs, reproduced here integer for integer, so the firmware's table lookup
(firmware/kernels/reference/ek_lut_s8.c) gives TFLite Micro's bytes.

Sources (the int8 paths of TFLite Micro's reference kernels): hard_swish_common.cc + reference/hard_swish.h,
logistic_common.cc + reference/integer_ops/logistic.h, tanh.cc + reference/integer_ops/tanh.h,
quantize_common.cc + reference/requantize.h, all on gemmlowp's fixedpoint.h (int16 and int32 raw types) and the
double-rounding MultiplyByQuantizedMultiplier. C integer semantics are emulated: truncation to the raw type's
width after each operation, division truncating toward zero, arithmetic right shifts.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import UnsupportedError
from . import tflite_math

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _wrap(x: int, bits: int = 32) -> int:
    """Truncate to a signed integer of `bits` (what storing into int16_t / int32_t does)."""
    m = 1 << bits
    return (x + (m >> 1)) % m - (m >> 1)


def _div_trunc(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def srdhm(a: int, b: int, bits: int = 32) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul for int32 / int16."""
    lo = -(1 << (bits - 1))
    if a == lo and b == lo:
        return (1 << (bits - 1)) - 1
    ab = a * b
    nudge = (1 << (bits - 2)) if ab >= 0 else 1 - (1 << (bits - 2))
    return _wrap(_div_trunc(ab + nudge, 1 << (bits - 1)), bits)


def rdbp(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp RoundingDivideByPOT on a `bits`-wide raw type (the mask is truncated to that type, as in C++)."""
    mask = _wrap((1 << exponent) - 1, bits)
    remainder = _wrap(x & mask, bits)
    threshold = _wrap((mask >> 1) + (1 if x < 0 else 0), bits)
    return _wrap((x >> exponent) + (1 if remainder > threshold else 0), bits)


def sat_shift_left(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<+exponent>."""
    threshold = (1 << (bits - 1 - exponent)) - 1
    if x > threshold:
        return (1 << (bits - 1)) - 1
    if x < -threshold:
        return -(1 << (bits - 1))
    return _wrap(x << exponent, bits)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's double-rounding MultiplyByQuantizedMultiplier (the firmware's ek_requantize)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbp(srdhm(_wrap(x * (1 << left)), multiplier), right)


# gemmlowp fixed-point functions on int32 raws (FixedPoint<int32_t, integer_bits>)

def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term, constant_1_over_3 = 1895147668, 715827883
    x = _wrap(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbp(x4, 2)
    poly = rdbp(_wrap(srdhm(_wrap(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return _wrap(constant_term + srdhm(constant_term, _wrap(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 in Q(integer_bits), result Q0.31."""
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = _wrap((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        sat_shift_left(a_mod_quarter_minus_one_quarter, integer_bits) if integer_bits else
        a_mod_quarter_minus_one_quarter)
    remainder = _wrap(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (frac_bits + exponent)):
            result = srdhm(result, multiplier)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        if a < clamp:
            result = 0
    return INT32_MAX if a == 0 else result


def _newton_reciprocal_half(a: int) -> int:
    """The Newton-Raphson loop shared by one_over_one_plus_x and one_minus_x_over_one_plus_x: 1/(1+a) in Q2.29."""
    s = a + INT32_MAX  # RoundingHalfSum(a, F0::One())
    half_denominator = _wrap(_div_trunc(s + (1 if s >= 0 else -1), 2))
    x = _wrap(1515870810 + srdhm(half_denominator, -1010580540))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = _wrap((1 << 29) - half_denominator_times_x)
        x = _wrap(x + sat_shift_left(srdhm(x, one_minus), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return sat_shift_left(_newton_reciprocal_half(a), 1)  # Rescale<0>(ExactMulByPot<-1>(x)): Q1 -> Q0


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return sat_shift_left(_wrap(_newton_reciprocal_half(a) - (1 << 29)), 2)  # Rescale<0>(x - F2::One())


def logistic_fixed(a: int, integer_bits: int) -> int:
    """gemmlowp::logistic, Q(integer_bits) in, Q0.31 out."""
    if a == 0:
        return 1 << 30
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(_wrap(-abs(a)), integer_bits))
    return positive if a > 0 else _wrap(INT32_MAX - positive)


def tanh_fixed(a: int, integer_bits: int) -> int:
    """gemmlowp::tanh, Q(integer_bits) in, Q0.31 out."""
    if a == 0:
        return 0
    n = a if a < 0 else _wrap(-a)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))  # ExactMulByPot<1>
    return _wrap(-t) if a < 0 else t


def _table(fn) -> np.ndarray:
    return np.array([fn(v) for v in range(-128, 128)], dtype=np.int64)


def _input_radius(integer_bits: int, left_shift: int) -> int:
    """CalculateInputRadius(integer_bits, left_shift, 31)."""
    return math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))


def _sigmoid_like_params(input_scale: float, what: str) -> tuple[int, int, int]:
    """LOGISTIC / TANH int8 Prepare: multiplier and left shift for the Q4.27 input, and the saturation radius."""
    integer_bits = 4
    real = float(np.float32(input_scale)) * float(1 << (31 - integer_bits))
    q, left_shift = math.frexp(real)
    multiplier = tflite_math._round_half_away(q * (1 << 31))
    if left_shift < 0 or multiplier >= (1 << 31):
        raise UnsupportedError(f"{what}: input scale {input_scale:g} is outside what TFLite's int8 kernel handles")
    return multiplier, left_shift, _input_radius(integer_bits, left_shift)


def logistic_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """reference_integer_ops::Logistic (int8 out, zero point -128, scale 1/256 implied)."""
    multiplier, left_shift, radius = _sigmoid_like_params(input_scale, "LOGISTIC")

    def f(v: int) -> int:
        x = v - input_zero_point
        if x <= -radius:
            return -128
        if x >= radius:
            return 127
        out = rdbp(logistic_fixed(multiply_by_quantized_multiplier(x, multiplier, left_shift), 4), 31 - 8)
        return min(max(out - 128, -128), 127)
    return _table(f)


def tanh_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """reference_integer_ops::Tanh for int8 (output scale 1/128, zero point 0 implied)."""
    multiplier, left_shift, radius = _sigmoid_like_params(input_scale, "TANH")

    def f(v: int) -> int:
        x = v - input_zero_point
        if x <= -radius:
            return -128
        if x >= radius:
            return 127
        out = rdbp(tanh_fixed(multiply_by_quantized_multiplier(x, multiplier, left_shift), 4), 31 - 7)
        return min(max(out, -128), 127)
    return _table(f)


def _downscale_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if multiplier >= INT32_MAX - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(input_scale: float, output_scale: float) -> tuple[int, int, int, int]:
    """HardSwishPrepare (float32 arithmetic as TFLite Micro does it): output and relu-ish multipliers (int16) and
    their exponents."""
    f32 = np.float32
    hires_input_scale = f32(1.0 / 128.0) * f32(input_scale)
    reluish_scale = f32(3.0) / f32(32768.0)
    out_m, out_e = tflite_math.quantize_multiplier(float(hires_input_scale / f32(output_scale)))
    rel_m, rel_e = tflite_math.quantize_multiplier(float(hires_input_scale / reluish_scale))
    if out_e > 0:
        raise UnsupportedError(f"HARD_SWISH: output scale {output_scale:g} too small for the input scale "
                               f"{input_scale:g} (TFLite requires the output multiplier exponent <= 0)")
    return _downscale_to_int16(out_m), out_e, _downscale_to_int16(rel_m), rel_e


def hard_swish_table(input_scale: float, input_zero_point: int, output_scale: float,
                     output_zero_point: int) -> np.ndarray:
    """reference_ops::HardSwish<int8_t> with its int16 fixed-point arithmetic."""
    out_m16, out_e, rel_m16, rel_e = hard_swish_params(input_scale, output_scale)

    def sat_left16(v: int, amount: int) -> int:  # reference_ops::SaturatingLeftShift
        return min(max(v * (1 << amount), -32768), 32767)

    def doubling_high_mul16(a: int, b: int) -> int:  # SaturatingDoublingHighMul (rounds toward zero)
        if a == b == -32768:
            return 32767
        return _wrap(_div_trunc(a * b, 1 << 15), 16)

    def f(v: int) -> int:
        x = _wrap(v - input_zero_point, 16)
        hires = _wrap(x * (1 << 7), 16)
        preshift_output = srdhm(hires, out_m16, 16)
        reluish = hires
        if rel_e > 0:
            reluish = sat_left16(reluish, rel_e - 1)
        reluish = srdhm(reluish, rel_m16, 16)
        if rel_e > 0:
            reluish = sat_left16(reluish, 1)
        if rel_e < 0:
            reluish = rdbp(reluish, -rel_e, 16)
        reluish = _wrap((reluish + (1 << 15)) >> 1, 16)
        out = rdbp(doubling_high_mul16(reluish, preshift_output), -out_e, 16)
        out = _wrap(out + output_zero_point, 16)
        return min(max(out, -128), 127)
    return _table(f)


def requantize_table(input_scale: float, input_zero_point: int, output_scale: float,
                     output_zero_point: int) -> np.ndarray:
    """reference_ops::Requantize int8 -> int8 (QUANTIZE between two int8 tensors), effective scale in double."""
    multiplier, shift = tflite_math.quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))

    def f(v: int) -> int:
        out = multiply_by_quantized_multiplier(v - input_zero_point, multiplier, shift) + output_zero_point
        return min(max(out, -128), 127)
    return _table(f)
