/* TRANSPOSE int8 (up to 4 dims): what the LiteRT export of a channels-first model puts before a flatten. */
#include "ek_kernels.h"

ek_status ek_transpose_s8_prepare(const ek_transpose_params *p, size_t scratch_bytes) {
    int32_t seen = 0;
    for (int32_t i = 0; i < 4; ++i) {
        if (p->in_shape[i] <= 0 || p->perm[i] < 0 || p->perm[i] > 3 || (seen & (1 << p->perm[i]))) {
            return EK_E_BAD_PARAMS;
        }
        seen |= 1 << p->perm[i];
    }
    if (scratch_bytes < (size_t)ek_transpose_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_transpose_s8_scratch_bytes(const ek_transpose_params *p) {
    (void)p;
    return 0;
}

ek_status ek_transpose_s8_eval(const ek_transpose_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t *s = p->in_shape;
    const int32_t stride[4] = {s[1] * s[2] * s[3], s[2] * s[3], s[3], 1};
    /* output index (o0..o3) reads input along perm: out dim k is in dim perm[k] */
    const int32_t n0 = s[p->perm[0]], n1 = s[p->perm[1]], n2 = s[p->perm[2]], n3 = s[p->perm[3]];
    const int32_t t0 = stride[p->perm[0]], t1 = stride[p->perm[1]], t2 = stride[p->perm[2]], t3 = stride[p->perm[3]];
    for (int32_t a = 0; a < n0; ++a) {
        for (int32_t b = 0; b < n1; ++b) {
            for (int32_t c = 0; c < n2; ++c) {
                const int8_t *src = input + a * t0 + b * t1 + c * t2;
                for (int32_t d = 0; d < n3; ++d) {
                    *output++ = src[d * t3];
                }
            }
        }
    }
    return EK_OK;
}
