/* DEPTHWISE_CONV_2D int8, reference: TFLite reference_integer_ops::DepthwiseConvPerChannel. */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

ek_status ek_depthwise_conv2d_s8_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    if (p->input.n != p->output.n || p->depth_multiplier <= 0 || p->filter.n != 1 ||
        p->filter.c != p->output.c || p->output.c != p->input.c * p->depth_multiplier || p->stride_h <= 0 ||
        p->stride_w <= 0 || p->dilation_h <= 0 || p->dilation_w <= 0 || !ek_conv_padding_valid(p) ||
        p->act_min > p->act_max || p->multiplier == NULL || p->shift == NULL || p->weights == NULL) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_depthwise_conv2d_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_depthwise_conv2d_s8_scratch_bytes(const ek_conv_params *p) {
    (void)p;
    return 0;
}

ek_status ek_depthwise_conv2d_s8_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const ek_dims in = p->input, f = p->filter, out = p->output;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (int32_t ic = 0; ic < in.c; ++ic) {
                    for (int32_t m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (int32_t fy = 0; fy < f.h; ++fy) {
                            const int32_t iy = iy0 + p->dilation_h * fy;
                            if (iy < 0 || iy >= in.h) {
                                continue;
                            }
                            for (int32_t fx = 0; fx < f.w; ++fx) {
                                const int32_t ix = ix0 + p->dilation_w * fx;
                                if (ix < 0 || ix >= in.w) {
                                    continue;
                                }
                                const int32_t x = input[((b * in.h + iy) * in.w + ix) * in.c + ic];
                                acc += p->weights[(fy * f.w + fx) * f.c + oc] * (x + p->input_offset);
                            }
                        }
                        if (p->bias != NULL) {
                            acc += p->bias[oc];
                        }
                        acc = ek_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                        output[((b * out.h + oy) * out.w + ox) * out.c + oc] =
                            (int8_t)ek_clamp(acc, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
    return EK_OK;
}
