/* CONV_2D int8 for cores with MVE (Helium), bit-exact with kernels/reference/ek_conv2d_s8.c.
 *
 * Weights in the packed order of ek_mve.h (ek_conv2d_s8_mve_pack, mirrored by edgekit/export/mcu/kernels.py):
 * OHWI rows (output channels) in groups of 4, each row's window (kh * kw * depth values) padded with zeros to a
 * multiple of 16, per group the 4 rows' 16-byte chunks one after another. The bias is folded:
 * sum((x + input_offset) * w) = sum(x * w) + input_offset * sum(w) in wrapping int32 alike, so the host adds
 * input_offset * the sum of each output channel's weights to its bias and a tap adds x * w only.
 *
 * Two output pixels at a time. Each pixel's window is one contiguous column: a 1x1 convolution without padding
 * whose depth is a multiple of 16 reads the input pixel in place; otherwise the window is copied to scratch
 * (padded with zeros to the packed depth), a tap in the padding written as the input zero point (it adds
 * zero point * w, which the folded bias cancels: the reference skips it). Per group of 4 output channels, each
 * 16-byte chunk of the two columns and the group's 4 weight chunks (one pointer, post-increment) are loaded once
 * and 8 VMLADAVA accumulate 2 x 4 scalar sums (128 MACs per 14 instructions, a low-overhead loop, no tail: the
 * padding is zeros). The sums are requantized 4 lanes at a time (ek_mve_requantize) and stored with one VSTRB per
 * pixel; a last group of fewer than 4 channels is predicated (its rows are zeros). An odd last pixel is computed
 * twice. Grouped convolutions run the reference kernel (the host leaves their weights and bias as they are). */
#include <string.h>

#include "ek_fixedpoint.h"
#include "ek_kernels.h"
#include "ek_mve.h"

static int mve_applies(const ek_conv_params *p) {  /* the shapes the MVE path takes (scratch and packing too) */
    return p->filter.c == p->input.c;
}

static int32_t window(const ek_conv_params *p) {
    return p->filter.h * p->filter.w * p->filter.c;
}

static int reads_in_place(const ek_conv_params *p) {  /* the column is the input pixel itself */
    return p->filter.h == 1 && p->filter.w == 1 && p->pad_top == 0 && p->pad_left == 0 && p->pad_bottom == 0 &&
           p->pad_right == 0 && p->filter.c % 16 == 0;
}

void ek_conv2d_s8_mve_pack(const ek_conv_params *p, const int8_t *src, const int32_t *bias, int8_t *dst,
                           int32_t *dst_bias) {
    if (!mve_applies(p)) {
        memcpy(dst, src, (size_t)ek_dims_count(&p->filter));
        if (bias != NULL) {
            memcpy(dst_bias, bias, (size_t)p->output.c * sizeof(int32_t));
        }
        return;
    }
    ek_mve_pack_rows(src, p->output.c, window(p), dst);
    ek_mve_fold_bias(src, p->output.c, window(p), p->input_offset, bias, dst_bias);
}

int32_t ek_conv2d_s8_mve_scratch_bytes(const ek_conv_params *p) {
    if (!mve_applies(p) || reads_in_place(p)) {
        return ek_conv2d_s8_scratch_bytes(p);
    }
    return 2 * EK_MVE_DEPTH_PAD(window(p));  /* two columns */
}

ek_status ek_conv2d_s8_mve_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    const ek_status st = ek_conv2d_s8_prepare(p, 0);
    if (st != EK_OK) {
        return st;
    }
    if (mve_applies(p) && p->bias == NULL) {
        return EK_E_BAD_PARAMS;  /* the folded bias (ek_conv2d_s8_mve_pack) is always there */
    }
    return scratch_bytes < (size_t)ek_conv2d_s8_mve_scratch_bytes(p) ? EK_E_SCRATCH : EK_OK;
}

#if EK_MVE
static inline int32x4_t lanes4(int32_t a0, int32_t a1, int32_t a2, int32_t a3) {
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
}

/* two output pixels (columns c0, c1 of `chunks` 16-byte pieces; outputs o0, o1): all output channels */
static void pixels2(const ek_conv_params *p, const int8_t *c0, const int8_t *c1, int32_t chunks, int8_t *o0,
                    int8_t *o1) {
    const int32_t out_c = p->output.c;
    const int8_t *w = p->weights;
    for (int32_t oc = 0; oc < out_c; oc += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        for (int32_t j = 0; j < chunks; ++j) {
            const int8x16_t x0 = vldrbq_s8(c0 + 16 * j), x1 = vldrbq_s8(c1 + 16 * j);
            const int8x16_t w0 = vldrbq_s8(w), w1 = vldrbq_s8(w + 16), w2 = vldrbq_s8(w + 32),
                            w3 = vldrbq_s8(w + 48);
            w += 64;
            a0 = vmladavaq_s8(a0, x0, w0);
            b0 = vmladavaq_s8(b0, x1, w0);
            a1 = vmladavaq_s8(a1, x0, w1);
            b1 = vmladavaq_s8(b1, x1, w1);
            a2 = vmladavaq_s8(a2, x0, w2);
            b2 = vmladavaq_s8(b2, x1, w2);
            a3 = vmladavaq_s8(a3, x0, w3);
            b3 = vmladavaq_s8(b3, x1, w3);
        }
        const int32_t lanes = out_c - oc < 4 ? out_c - oc : 4;
        const int32x4_t bias = vldrwq_z_s32(p->bias + oc, vctp32q((uint32_t)lanes));
        ek_mve_store4(o0 + oc, vaddq_s32(lanes4(a0, a1, a2, a3), bias), p->multiplier + oc, p->shift + oc, lanes,
                      p->output_offset, p->act_min, p->act_max);
        ek_mve_store4(o1 + oc, vaddq_s32(lanes4(b0, b1, b2, b3), bias), p->multiplier + oc, p->shift + oc, lanes,
                      p->output_offset, p->act_min, p->act_max);
    }
}

/* the window of output pixel `pix` (flat over batch, rows, columns) as one column; padding taps hold the input
 * zero point; the column's padding to 16 stays zero */
static void im2col(const ek_conv_params *p, const int8_t *input, int32_t pix, int8_t *col) {
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const int32_t ox = pix % out.w, oy = (pix / out.w) % out.h, b = pix / (out.w * out.h);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int8x16_t zpv = vdupq_n_s8((int8_t)(-p->input_offset));
    for (int32_t fy = 0; fy < f.h; ++fy) {
        const int32_t iy = iy0 + p->dilation_h * fy;
        const int row_in = iy >= 0 && iy < in.h;
        const int8_t *row = input + (b * in.h + iy) * in.w * in.c;
        for (int32_t fx = 0; fx < f.w; ++fx, col += in.c) {
            const int32_t ix = ix0 + p->dilation_w * fx;
            if (!row_in || ix < 0 || ix >= in.w) {
                for (int32_t c = 0; c < in.c; c += 16) {
                    vstrbq_p_s8(col + c, zpv, vctp8q((uint32_t)(in.c - c)));
                }
                continue;
            }
            const int8_t *x = row + ix * in.c;
            if (in.c < 4) {  /* RGB or one channel: bytes */
                for (int32_t c = 0; c < in.c; ++c) {
                    col[c] = x[c];
                }
                continue;
            }
            for (int32_t c = 0; c < in.c; c += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(in.c - c));
                vstrbq_p_s8(col + c, vldrbq_z_s8(x + c, pr), pr);
            }
        }
    }
}
#else
/* no MVE (a host build of the kernel folders): the same arithmetic, scalar, from the packed weights */
static void scalar_eval(const ek_conv_params *p, const int8_t *input, int8_t *output) {
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const int32_t zp = -p->input_offset, depth = window(p);
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            for (int32_t ox = 0; ox < out.w; ++ox) {
                for (int32_t oc = 0; oc < out.c; ++oc) {
                    uint32_t acc = (uint32_t)p->bias[oc];
                    int32_t k = 0;
                    for (int32_t fy = 0; fy < f.h; ++fy) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + p->dilation_h * fy;
                        for (int32_t fx = 0; fx < f.w; ++fx) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + p->dilation_w * fx;
                            const int inside = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w;
                            const int8_t *x = input + ((b * in.h + iy) * in.w + ix) * in.c;
                            for (int32_t c = 0; c < f.c; ++c, ++k) {
                                acc += (uint32_t)(ek_mve_packed_at(p->weights, depth, oc, k) * (inside ? x[c] : zp));
                            }
                        }
                    }
                    const int32_t v = ek_requantize((int32_t)acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                    output[((b * out.h + oy) * out.w + ox) * out.c + oc] = (int8_t)ek_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

ek_status ek_conv2d_s8_mve_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    if (!mve_applies(p)) {
        return ek_conv2d_s8_eval(p, input, output, scratch);
    }
#if EK_MVE
    const ek_dims in = p->input, out = p->output;
    const int32_t pixels = out.n * out.h * out.w, dp = EK_MVE_DEPTH_PAD(window(p));
    if (reads_in_place(p)) {
        for (int32_t pix = 0; pix < pixels; pix += 2) {
            const int32_t q = pix + 1 < pixels ? pix + 1 : pix;
            const int32_t bx = pix % out.w, by = pix / out.w, qx = q % out.w, qy = q / out.w;  /* by: b * h + oy */
            const int8_t *x0 =
                input + ((by / out.h * in.h + by % out.h * p->stride_h) * in.w + bx * p->stride_w) * in.c;
            const int8_t *x1 =
                input + ((qy / out.h * in.h + qy % out.h * p->stride_h) * in.w + qx * p->stride_w) * in.c;
            pixels2(p, x0, x1, dp / 16, output + pix * out.c, output + q * out.c);
        }
        return EK_OK;
    }
    int8_t *col0 = (int8_t *)scratch, *col1 = col0 + dp;
    memset(col0, 0, 2 * (size_t)dp);
    for (int32_t pix = 0; pix < pixels; pix += 2) {
        const int32_t q = pix + 1 < pixels ? pix + 1 : pix;
        im2col(p, input, pix, col0);
        im2col(p, input, q, col1);
        pixels2(p, col0, col1, dp / 16, output + pix * out.c, output + q * out.c);
    }
#else
    (void)scratch;
    scalar_eval(p, input, output);
#endif
    return EK_OK;
}
