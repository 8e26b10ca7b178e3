/* ADD int8 of same-shape tensors, reference: TFLite reference_integer_ops::AddElementwise. */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_add_s8_prepare(const ek_add_params *p) {
    if (p->size <= 0 || p->left_shift < 0 || p->left_shift > 30 || p->input1_shift > 0 || p->input2_shift > 0 ||
        p->output_shift > 0 || p->act_min > p->act_max) {
        return EK_E_BAD_PARAMS;
    }
    return EK_OK;
}

ek_status ek_add_s8(const ek_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t a = (input1[i] + p->input1_offset) * (1 << p->left_shift);
        const int32_t b = (input2[i] + p->input2_offset) * (1 << p->left_shift);
        const int32_t sum = ek_requantize_lt1(a, p->input1_multiplier, p->input1_shift) +
                            ek_requantize_lt1(b, p->input2_multiplier, p->input2_shift);
        const int32_t out = ek_requantize_lt1(sum, p->output_multiplier, p->output_shift) + p->output_offset;
        output[i] = (int8_t)ek_clamp(out, p->act_min, p->act_max);
    }
    return EK_OK;
}
