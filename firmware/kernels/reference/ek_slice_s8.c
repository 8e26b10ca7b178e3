/* STRIDED_SLICE int8 (and SLICE), reference: TFLite reference_ops::StridedSlice. The host resolves begin/end
 * masks, negative indices, clamping and shrink axes exactly as TFLite's strided_slice_logic does, into a start
 * offset and a count and signed step per (up to 4) dimension; this is then a strided gather. */
#include "ek_kernels.h"

ek_status ek_slice_s8_prepare(const ek_slice_params *p, size_t scratch_bytes) {
    int32_t lo = p->offset, hi = p->offset;  /* the smallest and largest index read */
    for (int32_t k = 0; k < 4; ++k) {
        if (p->count[k] <= 0) {
            return EK_E_BAD_PARAMS;
        }
        const int32_t span = (p->count[k] - 1) * p->step[k];
        if (span < 0) {
            lo += span;
        } else {
            hi += span;
        }
    }
    if (lo < 0 || hi >= p->input_size) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_slice_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_slice_s8_scratch_bytes(const ek_slice_params *p) {
    (void)p;
    return 0;
}

ek_status ek_slice_s8_eval(const ek_slice_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t *n = p->count, *s = p->step;
    for (int32_t a = 0; a < n[0]; ++a) {
        for (int32_t b = 0; b < n[1]; ++b) {
            for (int32_t c = 0; c < n[2]; ++c) {
                const int8_t *src = input + p->offset + a * s[0] + b * s[1] + c * s[2];
                if (s[3] == 1) {
                    for (int32_t d = 0; d < n[3]; ++d) {
                        *output++ = src[d];
                    }
                } else {
                    for (int32_t d = 0; d < n[3]; ++d) {
                        *output++ = src[d * s[3]];
                    }
                }
            }
        }
    }
    return EK_OK;
}
