/* CONCATENATION int8, reference: TFLite reference_ops::Concatenation (a copy; TFLite Micro requires every input
 * to have the output's scale and zero point). An input quantized differently is requantized on the way through a
 * table the host computed with TFLite's int8 -> int8 requantization (what a QUANTIZE op before the concatenation
 * would do). */
#include <string.h>

#include "ek_kernels.h"

ek_status ek_concat_s8_prepare(const ek_concat_params *p, size_t scratch_bytes) {
    if (p->inputs <= 0 || p->inputs > EK_CONCAT_MAX_INPUTS || p->outer <= 0 || p->inner == NULL ||
        p->table == NULL) {
        return EK_E_BAD_PARAMS;
    }
    for (int32_t k = 0; k < p->inputs; ++k) {
        if (p->inner[k] < 0 || p->table[k] < -1 || (p->table[k] >= 0 && p->tables == NULL)) {
            return EK_E_BAD_PARAMS;
        }
    }
    if (scratch_bytes < (size_t)ek_concat_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_concat_s8_scratch_bytes(const ek_concat_params *p) {
    (void)p;
    return 0;
}

ek_status ek_concat_s8_eval(const ek_concat_params *p, const int8_t *const *inputs, int8_t *output, void *scratch) {
    (void)scratch;
    int32_t row = 0;  /* elements per outer step of the output */
    for (int32_t k = 0; k < p->inputs; ++k) {
        row += p->inner[k];
    }
    for (int32_t k = 0, at = 0; k < p->inputs; at += p->inner[k], ++k) {
        const int32_t n = p->inner[k];
        const int8_t *src = inputs[k];
        int8_t *dst = output + at;
        if (p->table[k] < 0) {
            for (int32_t o = 0; o < p->outer; ++o, src += n, dst += row) {
                memcpy(dst, src, (size_t)n);
            }
        } else {
            const int8_t *table = p->tables + 256 * p->table[k] + 128;
            for (int32_t o = 0; o < p->outer; ++o, src += n, dst += row) {
                for (int32_t i = 0; i < n; ++i) {
                    dst[i] = table[src[i]];
                }
            }
        }
    }
    return EK_OK;
}
