/* MEAN int8 over any axes of a tensor of up to 4 dims, reference: TFLite reference_ops::QuantizedMeanOrSum (the path
 * TFLite Micro takes for every int8 MEAN; the host folds 1/count into multiplier and shift and splits the dims into
 * kept and reduced loops). */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_mean_s8_prepare(const ek_mean_params *p, size_t scratch_bytes) {
    for (int32_t i = 0; i < 4; ++i) {
        if (p->keep_count[i] <= 0 || p->reduce_count[i] <= 0 || p->keep_stride[i] < 0 || p->reduce_stride[i] < 0) {
            return EK_E_BAD_PARAMS;
        }
    }
    if (scratch_bytes < (size_t)ek_mean_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_mean_s8_scratch_bytes(const ek_mean_params *p) {
    (void)p;
    return 0;  /* each output's sum is kept in a register: no temp_sum array needed */
}

/* The sum of the reduced elements from `x` (the first of them). */
static int32_t reduced_sum(const ek_mean_params *p, const int8_t *x) {
    const int32_t *n = p->reduce_count, *s = p->reduce_stride;
    int32_t sum = 0;
    for (int32_t a = 0; a < n[0]; ++a) {
        for (int32_t b = 0; b < n[1]; ++b) {
            for (int32_t c = 0; c < n[2]; ++c) {
                const int8_t *row = x + a * s[0] + b * s[1] + c * s[2];
                for (int32_t d = 0; d < n[3]; ++d) {
                    sum += row[d * s[3]];
                }
            }
        }
    }
    return sum;
}

ek_status ek_mean_s8_eval(const ek_mean_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t *n = p->keep_count, *s = p->keep_stride;
    const int32_t count = p->reduce_count[0] * p->reduce_count[1] * p->reduce_count[2] * p->reduce_count[3];
    const int32_t zero_sum = p->input_zero_point * count;
    for (int32_t a = 0; a < n[0]; ++a) {
        for (int32_t b = 0; b < n[1]; ++b) {
            for (int32_t c = 0; c < n[2]; ++c) {
                const int8_t *x = input + a * s[0] + b * s[1] + c * s[2];
                for (int32_t d = 0; d < n[3]; ++d) {
                    const int32_t sum = reduced_sum(p, x + d * s[3]) - zero_sum;
                    const int32_t out = ek_requantize(sum, p->multiplier, p->shift) + p->output_zero_point;
                    *output++ = (int8_t)ek_clamp(out, INT8_MIN, INT8_MAX);
                }
            }
        }
    }
    return EK_OK;
}
