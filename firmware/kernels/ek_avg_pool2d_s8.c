/* AVERAGE_POOL_2D int8, reference: TFLite reference_integer_ops::AveragePool (rounded division by the number of
 * in-bounds elements). */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_avg_pool2d_s8_prepare(const ek_pool_params *p) {
    return ek_max_pool2d_s8_prepare(p);  /* same geometry rules */
}

ek_status ek_avg_pool2d_s8(const ek_pool_params *p, const int8_t *input, int8_t *output) {
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
                    int32_t acc = 0, count = 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            acc += input[((b * in.h + iy0 + fy) * in.w + ix0 + fx) * in.c + c];
                            ++count;
                        }
                    }
                    if (count == 0) {
                        return EK_E_BAD_PARAMS;  /* TFLite fails the same way: a window entirely in the padding */
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    output[((b * out.h + oy) * out.w + ox) * out.c + c] = (int8_t)ek_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return EK_OK;
}
