/* FULLY_CONNECTED int8, reference: TFLite reference_integer_ops::FullyConnected(PerChannel); filter zero point 0. */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_fully_connected_s8_prepare(const ek_fc_params *p, size_t scratch_bytes) {
    if (p->batches <= 0 || p->in_features <= 0 || p->out_features <= 0 || p->act_min > p->act_max ||
        p->multiplier == NULL || p->shift == NULL || p->weights == NULL) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_fully_connected_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_fully_connected_s8_scratch_bytes(const ek_fc_params *p) {
    (void)p;
    return 0;
}

ek_status ek_fully_connected_s8_eval(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t depth = p->in_features;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * depth;
        for (int32_t o = 0; o < p->out_features; ++o) {
            const int8_t *w = p->weights + o * depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < depth; ++d) {
                acc += w[d] * (x[d] + p->input_offset);
            }
            if (p->bias != NULL) {
                acc += p->bias[o];
            }
            acc = ek_requantize(acc, p->multiplier[o], p->shift[o]) + p->output_offset;
            output[b * p->out_features + o] = (int8_t)ek_clamp(acc, p->act_min, p->act_max);
        }
    }
    return EK_OK;
}
