/* TFLite's fixed-point requantization, integer for integer (tensorflow/lite/kernels/internal/common.h):
 * SaturatingRoundingDoublingHighMul, RoundingDivideByPOT and MultiplyByQuantizedMultiplier (double rounding,
 * the default build). Written without 64-bit division, which is a slow library call on Cortex-M. */
#ifndef EK_FIXEDPOINT_H
#define EK_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t ek_sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    /* TFLite: (ab + nudge) / 2^31 truncating, nudge = 2^30 for ab >= 0 and 1 - 2^30 below. Both cases equal
     * floor((ab + 2^30) / 2^31): for ab < 0, trunc(v / 2^31) = floor((v + 2^31 - 1) / 2^31) with
     * v = ab + 1 - 2^30. One SMLAL and a shift, no branch, no 64-bit division. */
    return (int32_t)(((int64_t)a * (int64_t)b + (1LL << 30)) >> 31);
}

static inline int32_t ek_rounding_divide_by_pot(int32_t x, int32_t exponent) {
    const int32_t mask = (int32_t)((1u << exponent) - 1u);  /* exponent <= 31 */
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t ek_requantize(int32_t x, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* unsigned shift: TFLite's x * (1 << left) wraps the same way without signed-overflow UB */
    return ek_rounding_divide_by_pot(ek_sat_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), multiplier),
                                     right);
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0), used by ADD. */
static inline int32_t ek_requantize_lt1(int32_t x, int32_t multiplier, int32_t shift) {
    return ek_rounding_divide_by_pot(ek_sat_rounding_doubling_high_mul(x, multiplier), -shift);
}

/* The rare cases of ek_requantize_fast, out of line so the common path keeps its registers. */
static __attribute__((noinline, unused)) int32_t ek_requantize_slow(int32_t x, int32_t multiplier, int32_t shift) {
    return ek_requantize(x, multiplier, shift);
}

/* ek_requantize for the kernels' per-channel multipliers (never INT32_MIN: QuantizeMultiplier gives 0 or
 * [2^30, 2^31)), with a short exact path for the usual case shift < 0 and |x| < 2^30:
 * SaturatingRoundingDoublingHighMul(x, m) = floor((x * m + 2^30) / 2^31) = floor((2x * m + 2^31) / 2^32), one
 * SMMULR of 2x, and |t| < 2^30; RoundingDivideByPOT(t, e) = (u + 2^(e-1)) >> e with u = t - (t < 0), which is
 * ((u >> (e - 1)) + 1) >> 1, and e - 1 = ~shift. No overflow anywhere on this path. */
static inline int32_t ek_requantize_fast(int32_t x, int32_t multiplier, int32_t shift) {
    if (__builtin_expect(shift < 0 && (int32_t)((uint32_t)x + 0x40000000u) >= 0, 1)) {
        int32_t t;
#if defined(__ARM_FEATURE_DSP)
        __asm("smmulr %0, %1, %2" : "=r"(t) : "r"(x * 2), "r"(multiplier));
#else
        t = (int32_t)(((int64_t)(x * 2) * multiplier + (1LL << 31)) >> 32);
#endif
        const int32_t u = t + (t >> 31);
        return ((u >> ~shift) + 1) >> 1;
    }
    return ek_requantize_slow(x, multiplier, shift);
}

static inline int32_t ek_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif
