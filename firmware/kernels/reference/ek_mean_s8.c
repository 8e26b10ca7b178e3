/* MEAN int8 over H and W of an NHWC tensor, reference: TFLite reference_ops::QuantizedMeanOrSum (the path TFLite
 * Micro takes for every int8 MEAN; the host folds 1/count into multiplier and shift). */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_mean_s8_prepare(const ek_mean_params *p, size_t scratch_bytes) {
    if (p->input.n <= 0 || p->input.h <= 0 || p->input.w <= 0 || p->input.c <= 0) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_mean_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_mean_s8_scratch_bytes(const ek_mean_params *p) {
    (void)p;
    return 0;  /* sums are kept per channel in a register: no temp_sum array needed */
}

ek_status ek_mean_s8_eval(const ek_mean_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const ek_dims in = p->input;
    const int32_t count = in.h * in.w;
    for (int32_t b = 0; b < in.n; ++b) {
        for (int32_t c = 0; c < in.c; ++c) {
            int32_t sum = 0;
            const int8_t *x = input + b * count * in.c + c;
            for (int32_t i = 0; i < count; ++i) {
                sum += x[i * in.c];
            }
            const int32_t out =
                ek_requantize(sum - p->input_zero_point * count, p->multiplier, p->shift) + p->output_zero_point;
            output[b * in.c + c] = (int8_t)ek_clamp(out, INT8_MIN, INT8_MAX);
        }
    }
    return EK_OK;
}
