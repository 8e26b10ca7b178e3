/* PAD / PADV2 int8, reference: TFLite reference_ops::Pad (up to 4 dims; the host left-pads shorter ranks with
 * 1s). Bytes are copied, not requantized; the padding holds one value: the output zero point for PAD, the
 * constant for PADV2. */
#include <string.h>

#include "ek_kernels.h"

ek_status ek_pad_s8_prepare(const ek_pad_params *p, size_t scratch_bytes) {
    for (int32_t i = 0; i < 4; ++i) {
        if (p->in_shape[i] <= 0 || p->before[i] < 0 || p->after[i] < 0) {
            return EK_E_BAD_PARAMS;
        }
    }
    if (p->value < INT8_MIN || p->value > INT8_MAX) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_pad_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_pad_s8_scratch_bytes(const ek_pad_params *p) {
    (void)p;
    return 0;
}

ek_status ek_pad_s8_eval(const ek_pad_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t *s = p->in_shape, *lo = p->before, *hi = p->after;
    const int32_t o1 = lo[1] + s[1] + hi[1], o2 = lo[2] + s[2] + hi[2], o3 = lo[3] + s[3] + hi[3];
    const int value = (int8_t)p->value;
    for (int32_t a = 0; a < lo[0] + s[0] + hi[0]; ++a) {
        const int in_a = a >= lo[0] && a < lo[0] + s[0];
        for (int32_t b = 0; b < o1; ++b) {
            const int in_b = in_a && b >= lo[1] && b < lo[1] + s[1];
            for (int32_t c = 0; c < o2; ++c, output += o3) {
                if (!in_b || c < lo[2] || c >= lo[2] + s[2]) {
                    memset(output, value, (size_t)o3);  /* a whole row of padding */
                    continue;
                }
                const int8_t *src = input + (((a - lo[0]) * s[1] + (b - lo[1])) * s[2] + (c - lo[2])) * s[3];
                memset(output, value, (size_t)lo[3]);
                memcpy(output + lo[3], src, (size_t)s[3]);
                memset(output + lo[3] + s[3], value, (size_t)hi[3]);
            }
        }
    }
    return EK_OK;
}
