/* CONV_2D int8, optimised for the DSP extension; bit-exact with the reference kernel (ek_conv2d_s8_eval).
 *
 * Two output pixels at a time: im2col writes both columns into scratch as int16 (input + offset; zero where the
 * window lies in the padding, which is what the reference's skipped terms add), interleaved per group of 4
 * (A lo, A hi, B lo, B hi in SXTB16 order). Weights come packed (ek_conv2d_s8_dsp_pack, mirrored on the host):
 * pairs of output channels interleaved per group of 4 (4 bytes of channel 2q, 4 bytes of channel 2q+1), an odd
 * last channel plain. A 2x2 block (two channels x two pixels) of 16 MACs is then 3 LDRD, 4 SXTB16, 8 SMLAD.
 * Applies to every convolution that is not grouped. The column length k = filter h * w * depth is padded to a
 * multiple of 4 (kp) with zeros in both the columns and the packed weights; when the depth is a multiple of 4 the
 * columns are built 4 bytes at a time, otherwise value by value (e.g. an RGB input, or DS-CNN's first layer,
 * which litert writes as a depthwise convolution of one input channel that the host turns back into this
 * convolution). Grouped convolutions keep the OHWI order and run the reference kernel. Packed weights are read
 * with LDRD, so they must be 4-byte aligned (prepare checks), as must the scratch (the host plans it 8-aligned). */
#include "ek_dsp.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

static int dsp_applies(const ek_conv_params *p) {
    return p->filter.c == p->input.c;
}

/* the column length rounded up to whole groups of 4 */
static inline int32_t padded_k(const ek_conv_params *p) {
    return (p->filter.h * p->filter.w * p->filter.c + 3) & ~3;
}

/* The reference kernel's rules, this kernel's scratch, and aligned packed weights. */
ek_status ek_conv2d_s8_dsp_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    const ek_status s = ek_conv2d_s8_prepare(p, scratch_bytes);
    if (s != EK_OK) {
        return s;
    }
    if (dsp_applies(p) && ((uintptr_t)p->weights & 3u) != 0) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_conv2d_s8_dsp_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_conv2d_s8_dsp_scratch_bytes(const ek_conv_params *p) {
    return dsp_applies(p) ? 2 * padded_k(p) * 2 : 0;
}

void ek_conv2d_s8_dsp_pack(const ek_conv_params *p, const int8_t *src, int8_t *dst) {
    const int32_t k = p->filter.h * p->filter.w * p->filter.c, out_c = p->filter.n;
    if (!dsp_applies(p)) {
        for (int32_t i = 0; i < out_c * k; ++i) {
            dst[i] = src[i];
        }
        return;
    }
    const int32_t kp = padded_k(p);  /* dst holds out_c * kp bytes */
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        for (int32_t g = 0; g < kp / 4; ++g) {
            for (int32_t r = 0; r < 2; ++r) {
                for (int32_t i = 0; i < 4; ++i) {
                    const int32_t kk = 4 * g + i;
                    *dst++ = kk < k ? src[(oc + r) * k + kk] : 0;
                }
            }
        }
    }
    for (int32_t i = 0; oc < out_c && i < kp; ++i) {
        *dst++ = i < k ? src[oc * k + i] : 0;
    }
}

static inline int8_t finish(const ek_conv_params *p, int32_t acc, int32_t oc) {
    if (p->bias != NULL) {
        acc += p->bias[oc];
    }
    acc = ek_requantize_fast(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
    return (int8_t)ek_clamp(acc, p->act_min, p->act_max);
}

#if defined(__ARM_FEATURE_DSP)

/* Any depth: value by value into halfword (4g + (i & 1)) * 2 + (i >> 1) of the pixel's words (i = e % 4), the
 * SXTB16 order of the fast path; taps in the padding and the tail up to kp are 0. */
static void im2col_any(const ek_conv_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox,
                       uint32_t *col, int32_t kp) {
    const ek_dims in = p->input;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left, off = p->input_offset;
    int16_t *h = (int16_t *)col;
    int32_t e = 0;
    for (int32_t fy = 0; fy < p->filter.h; ++fy) {
        const int32_t iy = iy0 + p->dilation_h * fy;
        for (int32_t fx = 0; fx < p->filter.w; ++fx) {
            const int32_t ix = ix0 + p->dilation_w * fx;
            const int inside = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w;
            const int8_t *x = input + ((b * in.h + iy) * in.w + ix) * in.c;
            for (int32_t c = 0; c < in.c; ++c, ++e) {
                const int32_t i = e & 3;
                h[((e & ~3) + (i & 1)) * 2 + (i >> 1)] = (int16_t)(inside ? x[c] + off : 0);
            }
        }
    }
    for (; e < kp; ++e) {
        const int32_t i = e & 3;
        h[((e & ~3) + (i & 1)) * 2 + (i >> 1)] = 0;
    }
}

/* The column of output pixel (b, oy, ox) into words col[4g + half], half = 0/1 (pixel A) or 2/3 (pixel B). */
static void im2col(const ek_conv_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox, uint32_t *col,
                   uint32_t offset2) {
    const ek_dims in = p->input;
    const int32_t groups = in.c / 4;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    for (int32_t fy = 0; fy < p->filter.h; ++fy) {
        const int32_t iy = iy0 + p->dilation_h * fy;
        for (int32_t fx = 0; fx < p->filter.w; ++fx) {
            const int32_t ix = ix0 + p->dilation_w * fx;
            if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) {
                for (int32_t g = 0; g < groups; ++g, col += 4) {
                    col[0] = 0;
                    col[1] = 0;
                }
                continue;
            }
            const int8_t *x = input + ((b * in.h + iy) * in.w + ix) * in.c;
            for (int32_t g = 0; g < groups; ++g, col += 4, x += 4) {
                const uint32_t w = ek_load_u32(x);
                col[0] = ek_sadd16(ek_sxtb16(w), offset2);
                col[1] = ek_sadd16(ek_sxtb16_ror8(w), offset2);
            }
        }
    }
}

/* requantize one accumulator (bias already in) with values the caller keeps in registers */
static inline int8_t quantize_out(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point, int32_t lo,
                                  int32_t hi) {
    return (int8_t)ek_clamp(ek_requantize_fast(acc, multiplier, shift) + zero_point, lo, hi);
}

static void matmul(const ek_conv_params *p, const uint32_t *col, int32_t npix, int8_t *outA, int8_t *outB) {
    const int32_t groups = padded_k(p) / 4, out_c = p->output.c;
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int32_t *bias = p->bias, *mult = p->multiplier, *shift = p->shift;
    const int8_t *w = p->weights;
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        const int32_t b0 = bias != NULL ? bias[oc] : 0, b1 = bias != NULL ? bias[oc + 1] : 0;
        int32_t a00 = b0, a01 = b0, a10 = b1, a11 = b1;  /* a<channel><pixel>, starting from the bias */
        const void *wp = w, *cp = col;

        for (int32_t g = groups; g > 0; --g) {
            uint32_t u, v, c0, c1;
            ek_load2_post(&wp, &u, &v);
            const uint32_t u0 = ek_sxtb16(u), u1 = ek_sxtb16_ror8(u);
            const uint32_t v0 = ek_sxtb16(v), v1 = ek_sxtb16_ror8(v);
            ek_load2_post(&cp, &c0, &c1);
            a00 = ek_smlad(u0, c0, a00);
            a00 = ek_smlad(u1, c1, a00);
            a10 = ek_smlad(v0, c0, a10);
            a10 = ek_smlad(v1, c1, a10);
            ek_load2_post(&cp, &c0, &c1);
            a01 = ek_smlad(u0, c0, a01);
            a01 = ek_smlad(u1, c1, a01);
            a11 = ek_smlad(v0, c0, a11);
            a11 = ek_smlad(v1, c1, a11);
        }
        w = (const int8_t *)wp;
        const int32_t m0 = mult[oc], s0 = shift[oc], m1 = mult[oc + 1], s1 = shift[oc + 1];
        outA[oc] = quantize_out(a00, m0, s0, zp, lo, hi);
        outA[oc + 1] = quantize_out(a10, m1, s1, zp, lo, hi);
        if (npix == 2) {
            outB[oc] = quantize_out(a01, m0, s0, zp, lo, hi);
            outB[oc + 1] = quantize_out(a11, m1, s1, zp, lo, hi);
        }
    }
    if (oc < out_c) {  /* an odd last channel, plain order */
        int32_t a0 = 0, a1 = 0;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t u = ek_load_u32(w + 4 * g);
            const uint32_t u0 = ek_sxtb16(u), u1 = ek_sxtb16_ror8(u);
            a0 = ek_smlad(u1, col[4 * g + 1], ek_smlad(u0, col[4 * g], a0));
            a1 = ek_smlad(u1, col[4 * g + 3], ek_smlad(u0, col[4 * g + 2], a1));
        }
        outA[oc] = finish(p, a0, oc);
        if (npix == 2) {
            outB[oc] = finish(p, a1, oc);
        }
    }
}

ek_status ek_conv2d_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    if (!dsp_applies(p)) {
        return ek_conv2d_s8_eval(p, input, output, scratch);
    }
    const ek_dims out = p->output;
    const int32_t k = padded_k(p), fast = p->input.c % 4 == 0;
    const uint32_t offset2 = ((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16);
    uint32_t *col = (uint32_t *)scratch;
    const int32_t pixels = out.n * out.h * out.w, plane = out.h * out.w;
    for (int32_t i = 0; i < pixels; i += 2) {
        const int32_t npix = i + 1 < pixels ? 2 : 1;
        for (int32_t j = 0; j < 2; ++j) {
            if (j < npix) {
                const int32_t pix = i + j, b = pix / plane, rem = pix % plane;
                if (fast) {
                    im2col(p, input, b, rem / out.w, rem % out.w, col + 2 * j, offset2);
                } else {
                    im2col_any(p, input, b, rem / out.w, rem % out.w, col + 2 * j, k);
                }
            } else {
                for (int32_t g = 0; g < k / 4; ++g) {  /* no second pixel: zeros, outputs discarded */
                    col[4 * g + 2] = 0;
                    col[4 * g + 3] = 0;
                }
            }
        }
        __asm volatile("" ::: "memory");  /* the columns are complete before the asm loads read them */
        matmul(p, col, npix, output + i * out.c, output + (i + 1) * out.c);
    }
    return EK_OK;
}

#else

/* No DSP extension on this core: the packed weights, plain C over the same arithmetic. */
ek_status ek_conv2d_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    if (!dsp_applies(p)) {
        return ek_conv2d_s8_eval(p, input, output, scratch);
    }
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const int32_t kp = padded_k(p);
    (void)scratch;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            for (int32_t ox = 0; ox < out.w; ++ox) {
                for (int32_t oc = 0; oc < out.c; ++oc) {
                    /* where weight (oc, kk) sits in the packed order */
                    const int32_t pair = oc / 2, r = oc % 2, paired = oc < out.c - out.c % 2;
                    int32_t acc = 0, kk = 0;
                    for (int32_t fy = 0; fy < f.h; ++fy) {
                        for (int32_t fx = 0; fx < f.w; ++fx) {
                            for (int32_t ic = 0; ic < f.c; ++ic, ++kk) {
                                const int32_t iy = oy * p->stride_h - p->pad_top + p->dilation_h * fy;
                                const int32_t ix = ox * p->stride_w - p->pad_left + p->dilation_w * fx;
                                if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) {
                                    continue;
                                }
                                const int32_t at = paired ? pair * 2 * kp + (kk / 4) * 8 + r * 4 + kk % 4 : oc * kp + kk;
                                acc += p->weights[at] * (input[((b * in.h + iy) * in.w + ix) * in.c + ic] + p->input_offset);
                            }
                        }
                    }
                    output[((b * out.h + oy) * out.w + ox) * out.c + oc] = finish(p, acc, oc);
                }
            }
        }
    }
    return EK_OK;
}

#endif
