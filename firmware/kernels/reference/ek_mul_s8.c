/* MUL int8, reference: TFLite reference_integer_ops::MulElementwise (same shapes) or BroadcastMul6DSlow (the same
 * function of each pair of elements). */
#include "ek_broadcast.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_mul_s8_prepare(const ek_mul_params *p, size_t scratch_bytes) {
    if (!ek_binary_shape_valid(&p->shape) || p->output_shift > 31 || p->output_shift < -31 ||
        p->act_min > p->act_max) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_mul_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_mul_s8_scratch_bytes(const ek_mul_params *p) {
    (void)p;
    return 0;
}

static inline int8_t mul_element(const ek_mul_params *p, int32_t x, int32_t y) {
    const int32_t product = (x + p->input1_offset) * (y + p->input2_offset);
    const int32_t out = ek_requantize(product, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ek_clamp(out, p->act_min, p->act_max);
}

ek_status ek_mul_s8_eval(const ek_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                         void *scratch) {
    (void)scratch;
    const ek_mul_params q = *p;  /* a local copy: the output stores cannot alias it, so nothing is reloaded */
    EK_BINARY_LOOP(&q.shape, &q, input1, input2, output, mul_element);
    return EK_OK;
}
