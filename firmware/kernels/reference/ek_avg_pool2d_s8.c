/* AVERAGE_POOL_2D int8, reference: TFLite reference_integer_ops::AveragePool (rounded division by the number of
 * in-bounds elements). */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

/* Every window along one axis holds an input element. A window entirely in the padding has nothing to average
 * (TFLite fails on it at run time; here prepare refuses it). Window starts grow with the output index: the first
 * window must end inside the input and the last one start inside it. */
static int windows_reach_input(int32_t in_size, int32_t out_size, int32_t filter, int32_t stride, int32_t pad) {
    return in_size > 0 && filter - pad > 0 && (out_size - 1) * stride - pad < in_size;
}

ek_status ek_avg_pool2d_s8_prepare(const ek_pool_params *p, size_t scratch_bytes) {
    if (!ek_pool_geometry_valid(p) ||
        !windows_reach_input(p->input.h, p->output.h, p->filter_h, p->stride_h, p->pad_h) ||
        !windows_reach_input(p->input.w, p->output.w, p->filter_w, p->stride_w, p->pad_w)) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_avg_pool2d_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_avg_pool2d_s8_scratch_bytes(const ek_pool_params *p) {
    (void)p;
    return 0;
}

ek_status ek_avg_pool2d_s8_eval(const ek_pool_params *p, const int8_t *input, int8_t *output, void *scratch) {
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
                    int32_t acc = 0, count = 0;  /* count > 0: checked in prepare */
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            acc += input[((b * in.h + iy0 + fy) * in.w + ix0 + fx) * in.c + c];
                            ++count;
                        }
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    output[((b * out.h + oy) * out.w + ox) * out.c + c] = (int8_t)ek_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return EK_OK;
}
