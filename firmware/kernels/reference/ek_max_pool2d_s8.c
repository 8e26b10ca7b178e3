/* MAX_POOL_2D int8, reference: TFLite reference_integer_ops::MaxPool (window clipped at the borders). */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_max_pool2d_s8_prepare(const ek_pool_params *p, size_t scratch_bytes) {
    if (!ek_pool_geometry_valid(p)) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_max_pool2d_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_max_pool2d_s8_scratch_bytes(const ek_pool_params *p) {
    (void)p;
    return 0;
}

ek_status ek_max_pool2d_s8_eval(const ek_pool_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const ek_dims in = p->input, out = p->output;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
            const int32_t fy1 = p->filter_h < in.h - iy0 ? p->filter_h : in.h - iy0;
            for (int32_t ox = 0; ox < out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = p->filter_w < in.w - ix0 ? p->filter_w : in.w - ix0;
                for (int32_t c = 0; c < out.c; ++c) {
                    int32_t best = INT8_MIN;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const int32_t v = input[((b * in.h + iy0 + fy) * in.w + ix0 + fx) * in.c + c];
                            best = v > best ? v : best;
                        }
                    }
                    output[((b * out.h + oy) * out.w + ox) * out.c + c] = (int8_t)ek_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
    return EK_OK;
}
