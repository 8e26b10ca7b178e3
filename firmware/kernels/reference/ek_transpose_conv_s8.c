/* TRANSPOSE_CONV int8, reference: TFLite reference_integer_ops::TransposeConv (per-channel). TFLite scatters every
 * input pixel into an int32 buffer of the whole output; this kernel gathers instead: each output pixel sums the
 * filter taps that reach it, so it needs no scratch. The products and the requantization are TFLite's, and an
 * integer sum does not depend on its order: the outputs are the same bytes. */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_transpose_conv_s8_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    if (p->input.n <= 0 || p->input.h <= 0 || p->input.w <= 0 || p->input.c <= 0 || p->input.n != p->output.n ||
        p->output.h <= 0 || p->output.w <= 0 || p->filter.n != p->output.c || p->filter.c != p->input.c ||
        p->filter.h <= 0 || p->filter.w <= 0 || p->stride_h <= 0 || p->stride_w <= 0 || p->dilation_h != 1 ||
        p->dilation_w != 1 || p->pad_top < 0 || p->pad_left < 0 || p->act_min > p->act_max ||
        p->multiplier == NULL || p->shift == NULL || p->weights == NULL) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_transpose_conv_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_transpose_conv_s8_scratch_bytes(const ek_conv_params *p) {
    (void)p;
    return 0;
}

/* The first tap f >= 0 with (o + pad - f) a multiple of stride, and that input position (o + pad - f) / stride. */
static inline int32_t first_tap(int32_t o, int32_t pad, int32_t stride, int32_t *pos) {
    const int32_t t = o + pad;
    const int32_t f = t % stride;  /* t >= 0 */
    *pos = t / stride;
    return f;
}

ek_status ek_transpose_conv_s8_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const int32_t sh = p->stride_h, sw = p->stride_w;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            int32_t iy0;
            const int32_t fy0 = first_tap(oy, p->pad_top, sh, &iy0);
            for (int32_t ox = 0; ox < out.w; ++ox) {
                int32_t ix0;
                const int32_t fx0 = first_tap(ox, p->pad_left, sw, &ix0);
                for (int32_t oc = 0; oc < out.c; ++oc) {
                    int32_t acc = 0;
                    /* taps fy0, fy0 + sh, ... read input rows iy0, iy0 - 1, ... */
                    for (int32_t fy = fy0, iy = iy0; fy < f.h && iy >= 0; fy += sh, --iy) {
                        if (iy >= in.h) {
                            continue;
                        }
                        for (int32_t fx = fx0, ix = ix0; fx < f.w && ix >= 0; fx += sw, --ix) {
                            if (ix >= in.w) {
                                continue;
                            }
                            const int8_t *x = input + ((b * in.h + iy) * in.w + ix) * in.c;
                            const int8_t *w = p->weights + ((oc * f.h + fy) * f.w + fx) * f.c;
                            for (int32_t ic = 0; ic < in.c; ++ic) {
                                acc += (x[ic] + p->input_offset) * w[ic];
                            }
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    acc = ek_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                    acc = ek_clamp(acc, p->act_min, p->act_max);
                    output[((b * out.h + oy) * out.w + ox) * out.c + oc] = (int8_t)acc;
                }
            }
        }
    }
    return EK_OK;
}
