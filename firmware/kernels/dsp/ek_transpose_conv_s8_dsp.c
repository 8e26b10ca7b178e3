/* TRANSPOSE_CONV int8, optimised for the DSP extension; bit-exact with the reference kernel
 * (ek_transpose_conv_s8_eval), which gathers for each output pixel the filter taps that reach it.
 *
 * Per output pixel, the input pixels of its taps (at most filter h * w, one for a U-Net's 2x2 / 2) go into scratch
 * once as an int16 column (input + offset, 4 values as 2 words in SXTB16 order), beside the offsets of their
 * weights; output channels, two at a time, then read that column with SMLAD against their OHWI weights, 4 bytes at
 * a time through SXTB16 (no packing: the host writes the reference order). Applies when the input depth is a multiple of 4
 * (each tap's weights are then whole words); other depths run the reference kernel. The scratch must be 4-byte
 * aligned (the host plans it 8-aligned). */
#include "ek_dsp.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

static int dsp_applies(const ek_conv_params *p) {
    return p->input.c % 4 == 0;
}

ek_status ek_transpose_conv_s8_dsp_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    const ek_status s = ek_transpose_conv_s8_prepare(p, scratch_bytes);
    if (s != EK_OK) {
        return s;
    }
    if (scratch_bytes < (size_t)ek_transpose_conv_s8_dsp_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

/* the column (2 bytes per input value of every tap) and one weight offset per tap */
int32_t ek_transpose_conv_s8_dsp_scratch_bytes(const ek_conv_params *p) {
    return dsp_applies(p) ? p->filter.h * p->filter.w * (2 * p->input.c + 4) : 0;
}

#if defined(__ARM_FEATURE_DSP)

/* The taps reaching output (b, oy, ox): their input values into col (2 words per group of 4), the offsets of
 * their weights within one output channel's filter into wofs; returns how many. */
static int32_t gather_taps(const ek_conv_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox,
                           uint32_t offset2, uint32_t *col, int32_t *wofs) {
    const ek_dims in = p->input, f = p->filter;
    const int32_t ty = oy + p->pad_top, tx = ox + p->pad_left, groups = in.c / 4;
    int32_t taps = 0;
    for (int32_t fy = ty % p->stride_h, iy = ty / p->stride_h; fy < f.h && iy >= 0; fy += p->stride_h, --iy) {
        if (iy >= in.h) {
            continue;
        }
        for (int32_t fx = tx % p->stride_w, ix = tx / p->stride_w; fx < f.w && ix >= 0; fx += p->stride_w, --ix) {
            if (ix >= in.w) {
                continue;
            }
            const int8_t *x = input + ((b * in.h + iy) * in.w + ix) * in.c;
            for (int32_t g = 0; g < groups; ++g, col += 2, x += 4) {
                const uint32_t w = ek_load_u32(x);
                col[0] = ek_sadd16(ek_sxtb16(w), offset2);
                col[1] = ek_sadd16(ek_sxtb16_ror8(w), offset2);
            }
            wofs[taps++] = (fy * f.w + fx) * in.c;
        }
    }
    return taps;
}

ek_status ek_transpose_conv_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                        void *scratch) {
    if (!dsp_applies(p)) {
        return ek_transpose_conv_s8_eval(p, input, output, scratch);
    }
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const uint32_t offset2 = ((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16);
    const int32_t groups = in.c / 4, filter_size = f.h * f.w * f.c;
    uint32_t *col = (uint32_t *)scratch;
    int32_t *wofs = (int32_t *)(col + f.h * f.w * groups * 2);
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            for (int32_t ox = 0; ox < out.w; ++ox) {
                const int32_t taps = gather_taps(p, input, b, oy, ox, offset2, col, wofs);
                __asm volatile("" ::: "memory");  /* the column is complete before the loads read it */
                const int8_t *filter = p->weights;
                const int32_t *bias = p->bias;
                int32_t oc = 0;
                for (; oc + 2 <= out.c; oc += 2, filter += 2 * filter_size) {  /* two channels per column load */
                    int32_t a0 = bias != NULL ? bias[oc] : 0, a1 = bias != NULL ? bias[oc + 1] : 0;
                    const uint32_t *c = col;
                    for (int32_t t = 0; t < taps; ++t) {
                        const int8_t *w = filter + wofs[t];
                        for (int32_t g = groups; g > 0; --g, w += 4, c += 2) {
                            const uint32_t u = ek_load_u32(w), v = ek_load_u32(w + filter_size);
                            const uint32_t c0 = c[0], c1 = c[1];
                            a0 = ek_smlad(ek_sxtb16(u), c0, a0);
                            a0 = ek_smlad(ek_sxtb16_ror8(u), c1, a0);
                            a1 = ek_smlad(ek_sxtb16(v), c0, a1);
                            a1 = ek_smlad(ek_sxtb16_ror8(v), c1, a1);
                        }
                    }
                    a0 = ek_requantize_fast(a0, p->multiplier[oc], p->shift[oc]) + zp;
                    a1 = ek_requantize_fast(a1, p->multiplier[oc + 1], p->shift[oc + 1]) + zp;
                    output[0] = (int8_t)ek_clamp(a0, lo, hi);
                    output[1] = (int8_t)ek_clamp(a1, lo, hi);
                    output += 2;
                }
                if (oc < out.c) {  /* an odd last channel */
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    const uint32_t *c = col;
                    for (int32_t t = 0; t < taps; ++t) {
                        const int8_t *w = filter + wofs[t];
                        for (int32_t g = groups; g > 0; --g, w += 4, c += 2) {
                            const uint32_t u = ek_load_u32(w);
                            acc = ek_smlad(ek_sxtb16(u), c[0], acc);
                            acc = ek_smlad(ek_sxtb16_ror8(u), c[1], acc);
                        }
                    }
                    acc = ek_requantize_fast(acc, p->multiplier[oc], p->shift[oc]) + zp;
                    *output++ = (int8_t)ek_clamp(acc, lo, hi);
                }
            }
        }
    }
    return EK_OK;
}

#else

/* No DSP extension on this core: the reference kernel (same weight order). */
ek_status ek_transpose_conv_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                        void *scratch) {
    return ek_transpose_conv_s8_eval(p, input, output, scratch);
}

#endif
