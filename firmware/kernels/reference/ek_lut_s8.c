/* A function of one int8 value by table lookup: HARD_SWISH, LOGISTIC, TANH and int8 -> int8 QUANTIZE. The host
 * fills the 256 entries with TFLite Micro's integer arithmetic for each input value (edgekit/export/mcu/lut.py), so the
 * result is that arithmetic's, bit for bit, at one load per element. */
#include "ek_kernels.h"

ek_status ek_lut_s8_prepare(const ek_lut_params *p, size_t scratch_bytes) {
    if (p->size <= 0 || p->table == NULL) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_lut_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_lut_s8_scratch_bytes(const ek_lut_params *p) {
    (void)p;
    return 0;
}

ek_status ek_lut_s8_eval(const ek_lut_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const int8_t *table = p->table + 128;  /* indexed by the signed value */
    const int32_t n = p->size;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int8_t a = table[input[i]], b = table[input[i + 1]], c = table[input[i + 2]], d = table[input[i + 3]];
        output[i] = a;
        output[i + 1] = b;
        output[i + 2] = c;
        output[i + 3] = d;
    }
    for (; i < n; ++i) {
        output[i] = table[input[i]];
    }
    return EK_OK;
}
