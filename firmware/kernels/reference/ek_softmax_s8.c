/* SOFTMAX int8 -> int8, reference: TFLite reference_ops::Softmax for quantized types, built on gemmlowp's
 * fixed-point exp and reciprocal. Each helper below is the gemmlowp function of the same name specialised to
 * the formats softmax uses (exp input Q5.26, accumulator Q12.19, results Q0.31). */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

#define SCALED_DIFF_INT_BITS 5
#define ACCUM_INT_BITS 12

static inline int32_t sat_shift_left(int32_t x, int32_t exponent) {  /* SaturatingRoundingMultiplyByPOT<+e> */
    const int32_t threshold = (int32_t)((1U << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

static inline int32_t fp_mul(int32_t a, int32_t b) {
    return ek_sat_rounding_doubling_high_mul(a, b);
}

/* exp(x) for x in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8. */
static int32_t exp_on_interval_neg_quarter_to_0(int32_t a) {
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;  /* 1/3 */
    const int32_t x = a + (1 << 28);              /* a + 1/8 */
    const int32_t x2 = fp_mul(x, x);
    const int32_t x3 = fp_mul(x2, x);
    const int32_t x4 = fp_mul(x2, x2);
    const int32_t x4_over_4 = ek_rounding_divide_by_pot(x4, 2);
    const int32_t poly = ek_rounding_divide_by_pot(fp_mul(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + fp_mul(constant_term, x + poly);
}

/* exp(a) for a <= 0 given in Q5.26, result Q0.31 (gemmlowp exp_on_negative_values). */
static int32_t exp_on_negative_values(int32_t a) {
    const int32_t frac_bits = 31 - SCALED_DIFF_INT_BITS;
    const int32_t one_quarter = 1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
    int32_t result = exp_on_interval_neg_quarter_to_0(sat_shift_left(a_mod_quarter_minus_quarter, SCALED_DIFF_INT_BITS));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    /* barrel shifter: multiply by exp(-2^k) for each set bit of the remainder */
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int32_t k = -2; k <= 4; ++k) {
        if (SCALED_DIFF_INT_BITS > k && (remainder & (1 << (frac_bits + k)))) {
            result = fp_mul(result, multipliers[k + 2]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out: Newton-Raphson in Q2.29. */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);  /* RoundingHalfSum */
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    int32_t x = constant_48_over_17 + fp_mul(half_denominator, constant_neg_32_over_17);
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = fp_mul(half_denominator, x);
        const int32_t one_minus = (1 << 29) - half_denominator_times_x;
        x = x + sat_shift_left(fp_mul(x, one_minus), 2);
    }
    return sat_shift_left(x, 1);
}

static int32_t count_leading_zeros(uint32_t x) {
    return x == 0 ? 32 : __builtin_clz(x);
}

ek_status ek_softmax_s8_prepare(const ek_softmax_params *p, size_t scratch_bytes) {
    if (p->rows <= 0 || p->depth <= 0 || p->input_left_shift < 0 || p->input_left_shift > 31 || p->diff_min > 0) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_softmax_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_softmax_s8_scratch_bytes(const ek_softmax_params *p) {
    (void)p;
    return 0;
}

ek_status ek_softmax_s8_eval(const ek_softmax_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *x = input + r * p->depth;
        int8_t *y = output + r * p->depth;
        int32_t max_in_row = INT8_MIN;
        for (int32_t c = 0; c < p->depth; ++c) {
            max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
        }
        int32_t sum_of_exps = 0;  /* Q12.19 */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ek_sat_rounding_doubling_high_mul(
                    (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                sum_of_exps += ek_rounding_divide_by_pot(exp_on_negative_values(scaled), ACCUM_INT_BITS);
            }
        }
        const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        const int32_t num_bits_over_unit = ACCUM_INT_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ek_sat_rounding_doubling_high_mul(
                    (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_on_negative_values(scaled);
                const int32_t unsat = ek_rounding_divide_by_pot(fp_mul(shifted_scale, e), num_bits_over_unit + 31 - 8);
                y[c] = (int8_t)ek_clamp(unsat + INT8_MIN, INT8_MIN, INT8_MAX);
            } else {
                y[c] = INT8_MIN;
            }
        }
    }
    return EK_OK;
}
