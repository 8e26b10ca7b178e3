/* SUB int8, reference: TFLite reference_ops::SubElementwise (same shapes) or BroadcastQuantSubSlow (the same
 * function of each pair of elements): ADD with the second input subtracted. */
#include "ek_broadcast.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_sub_s8_prepare(const ek_add_params *p, size_t scratch_bytes) {
    if (!ek_binary_shape_valid(&p->shape) || p->left_shift < 0 || p->left_shift > 30 || p->input1_shift > 0 ||
        p->input2_shift > 0 || p->output_shift > 0 || p->act_min > p->act_max ||
        (p->input1_table == NULL) != (p->input2_table == NULL)) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_sub_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_sub_s8_scratch_bytes(const ek_add_params *p) {
    (void)p;
    return 0;
}

static inline int8_t sub_element(const ek_add_params *p, int32_t x, int32_t y) {
    const int32_t a = (x + p->input1_offset) * (1 << p->left_shift);
    const int32_t b = (y + p->input2_offset) * (1 << p->left_shift);
    const int32_t diff = ek_requantize_lt1(a, p->input1_multiplier, p->input1_shift) -
                         ek_requantize_lt1(b, p->input2_multiplier, p->input2_shift);
    const int32_t out = ek_requantize_lt1(diff, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ek_clamp(out, p->act_min, p->act_max);
}

/* The same with each input's rescaled value read from its table (the host computed them as above). */
static inline int8_t sub_element_tables(const ek_add_params *p, int32_t x, int32_t y) {
    const int32_t diff = p->input1_table[x + 128] - p->input2_table[y + 128];
    const int32_t out = ek_requantize_lt1(diff, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ek_clamp(out, p->act_min, p->act_max);
}

ek_status ek_sub_s8_eval(const ek_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                         void *scratch) {
    (void)scratch;
    const ek_add_params q = *p;  /* a local copy: the output stores cannot alias it, so nothing is reloaded */
    if (q.input1_table != NULL) {
        EK_BINARY_LOOP(&q.shape, &q, input1, input2, output, sub_element_tables);
    } else {
        EK_BINARY_LOOP(&q.shape, &q, input1, input2, output, sub_element);
    }
    return EK_OK;
}
