/* DEPTHWISE_CONV_2D int8 for cores with MVE (Helium), bit-exact with kernels/reference/ek_depthwise_conv2d_s8.c;
 * weights in the reference 1HWC order.
 *
 * Depth multiplier 1 and at most 64 taps (other shapes run the reference kernel). The host folds
 * input_offset * the sum of each channel's weights into its bias (ek_depthwise_conv2d_s8_mve_pack, mirrored by
 * edgekit/export/mcu/kernels.py), so a tap adds x * w only; a tap in the padding reads a row of input zero points
 * in scratch (adding zero point * w, which the folded bias cancels: the reference skips the tap). Per output
 * pixel, a table of its taps' input pointers (or that row) makes every tap alike, no bounds checks in the loop.
 * Then 16 channels at a time stay in four int32x4 accumulators for the whole window: per tap, 8 channels of input
 * and weights load widened to int16 lanes (VLDRB.S16), VMULLB / VMULLT multiply the even and odd lanes into int32
 * lanes and VADD accumulates (MVE has no lane-wise widening multiply-accumulate): 6 instructions per 8 MACs. The
 * bias, multipliers and shifts load de-interleaved (VLD2), the even and odd results are requantized on 4 lanes
 * (ek_mve_requantize), interleaved back while narrowing (VMOVNB / VMOVNT) and stored with one VSTRB.16. A depth
 * that is not a multiple of 16 ends with 8 channels, then 4 at a time, the last ones predicated (VCTP). */
#include <string.h>

#include "ek_fixedpoint.h"
#include "ek_kernels.h"
#include "ek_mve.h"

#define MAX_TAPS 64 /* the per-pixel table of tap pointers lives on the stack */

static int mve_applies(const ek_conv_params *p) {  /* the shapes the MVE path takes (scratch and packing too) */
    return p->depth_multiplier == 1 && p->filter.h * p->filter.w <= MAX_TAPS;
}

void ek_depthwise_conv2d_s8_mve_pack(const ek_conv_params *p, const int32_t *bias, int32_t *dst_bias) {
    const int32_t depth = p->output.c, taps = p->filter.h * p->filter.w;
    if (!mve_applies(p)) {
        if (bias != NULL) {
            memcpy(dst_bias, bias, (size_t)depth * sizeof(int32_t));
        }
        return;
    }
    for (int32_t c = 0; c < depth; ++c) {
        uint32_t sum = 0;
        for (int32_t t = 0; t < taps; ++t) {
            sum += (uint32_t)(int32_t)p->weights[t * depth + c];
        }
        dst_bias[c] = (int32_t)((bias != NULL ? (uint32_t)bias[c] : 0u) + (uint32_t)p->input_offset * sum);
    }
}

/* scratch: one row of `depth` input zero points, rounded up to 4 bytes */
int32_t ek_depthwise_conv2d_s8_mve_scratch_bytes(const ek_conv_params *p) {
    return mve_applies(p) ? (p->output.c + 3) / 4 * 4 : ek_depthwise_conv2d_s8_scratch_bytes(p);
}

ek_status ek_depthwise_conv2d_s8_mve_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    const ek_status st = ek_depthwise_conv2d_s8_prepare(p, 0);
    if (st != EK_OK) {
        return st;
    }
    if (mve_applies(p) && p->bias == NULL) {
        return EK_E_BAD_PARAMS;  /* the folded bias (ek_depthwise_conv2d_s8_mve_pack) is always there */
    }
    return scratch_bytes < (size_t)ek_depthwise_conv2d_s8_mve_scratch_bytes(p) ? EK_E_SCRATCH : EK_OK;
}

#if EK_MVE
typedef struct {
    const int8_t *weights;
    const int32_t *bias, *multiplier, *shift;
    int32_t depth, taps;
    int32x4_t output_offset, act_min, act_max;
} dw_ctx;

/* requantize the even (e) and odd (o) channels of 8, interleave them back (VMOVNB/VMOVNT) and store 8 bytes */
static inline void store8(const dw_ctx *k, int32_t c, int32x4_t e, int32x4_t o, int8_t *out) {
    const int32x4x2_t m = vld2q_s32(k->multiplier + c), s = vld2q_s32(k->shift + c);
    e = vaddq_s32(ek_mve_requantize(e, m.val[0], s.val[0]), k->output_offset);
    o = vaddq_s32(ek_mve_requantize(o, m.val[1], s.val[1]), k->output_offset);
    e = vminq_s32(vmaxq_s32(e, k->act_min), k->act_max);
    o = vminq_s32(vmaxq_s32(o, k->act_min), k->act_max);
    vstrbq_s16(out + c, vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), e), o));
}

/* 16 channels from c: per tap, 8 channels of input and weights load widened to int16 lanes (VLDRB.S16), VMULLB /
 * VMULLT multiply the even and the odd lanes into int32 lanes and VADD accumulates: four accumulators (channels
 * c, c+2, .., c+14 and c+1, .., c+15) stay in registers over all taps */
static inline void channels16(const dw_ctx *k, const int8_t *const *tap, int32_t c, int8_t *o) {
    const int32x4x2_t b0 = vld2q_s32(k->bias + c), b1 = vld2q_s32(k->bias + c + 8);
    int32x4_t e0 = b0.val[0], o0 = b0.val[1], e1 = b1.val[0], o1 = b1.val[1];
    const int8_t *w = k->weights + c;
    const int32_t depth = k->depth;
    for (int32_t t = 0; t < k->taps; ++t, w += depth) {
        const int8_t *x = tap[t] + c;
        const int16x8_t x0 = vldrbq_s16(x), w0 = vldrbq_s16(w);
        e0 = vaddq_s32(e0, vmullbq_int_s16(x0, w0));
        o0 = vaddq_s32(o0, vmulltq_int_s16(x0, w0));
        const int16x8_t x1 = vldrbq_s16(x + 8), w1 = vldrbq_s16(w + 8);
        e1 = vaddq_s32(e1, vmullbq_int_s16(x1, w1));
        o1 = vaddq_s32(o1, vmulltq_int_s16(x1, w1));
    }
    store8(k, c, e0, o0, o);
    store8(k, c + 8, e1, o1, o);
}

/* 8 channels from c, the same way */
static inline void channels8(const dw_ctx *k, const int8_t *const *tap, int32_t c, int8_t *o) {
    const int32x4x2_t b0 = vld2q_s32(k->bias + c);
    int32x4_t e0 = b0.val[0], o0 = b0.val[1];
    const int8_t *w = k->weights + c;
    const int32_t depth = k->depth;
    for (int32_t t = 0; t < k->taps; ++t, w += depth) {
        const int16x8_t x0 = vldrbq_s16(tap[t] + c), w0 = vldrbq_s16(w);
        e0 = vaddq_s32(e0, vmullbq_int_s16(x0, w0));
        o0 = vaddq_s32(o0, vmulltq_int_s16(x0, w0));
    }
    store8(k, c, e0, o0, o);
}

/* up to 4 channels from c (the tail), predicated */
static inline void channels4(const dw_ctx *k, const int8_t *const *tap, int32_t c, int8_t *o, int32_t out_offset,
                             int32_t act_min, int32_t act_max) {
    const int32_t depth = k->depth, lanes = depth - c < 4 ? depth - c : 4;
    const mve_pred16_t pr = vctp32q((uint32_t)lanes);
    int32x4_t a = vldrwq_z_s32(k->bias + c, pr);
    const int8_t *w = k->weights + c;
    for (int32_t t = 0; t < k->taps; ++t, w += depth) {
        a = vaddq_s32(a, vmulq_s32(vldrbq_z_s32(tap[t] + c, pr), vldrbq_z_s32(w, pr)));
    }
    ek_mve_store4(o + c, a, k->multiplier + c, k->shift + c, lanes, out_offset, act_min, act_max);
}
#else
/* no MVE (a host build of the kernel folders): the same arithmetic, scalar */
static void scalar_eval(const ek_conv_params *p, const int8_t *input, int8_t *output) {
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const int32_t zp = -p->input_offset;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            for (int32_t ox = 0; ox < out.w; ++ox) {
                for (int32_t c = 0; c < out.c; ++c) {
                    uint32_t acc = (uint32_t)p->bias[c];
                    for (int32_t fy = 0; fy < f.h; ++fy) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + p->dilation_h * fy;
                        for (int32_t fx = 0; fx < f.w; ++fx) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + p->dilation_w * fx;
                            const int inside = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w;
                            const int32_t x = inside ? input[((b * in.h + iy) * in.w + ix) * in.c + c] : zp;
                            acc += (uint32_t)(p->weights[(fy * f.w + fx) * f.c + c] * x);
                        }
                    }
                    const int32_t v = ek_requantize((int32_t)acc, p->multiplier[c], p->shift[c]) + p->output_offset;
                    output[((b * out.h + oy) * out.w + ox) * out.c + c] = (int8_t)ek_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

ek_status ek_depthwise_conv2d_s8_mve_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                          void *scratch) {
    if (!mve_applies(p)) {
        return ek_depthwise_conv2d_s8_eval(p, input, output, scratch);
    }
#if EK_MVE
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const int32_t depth = out.c, full = depth & ~15, full8 = depth & ~7;
    const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const dw_ctx k = {p->weights, p->bias, p->multiplier, p->shift, depth, f.h * f.w, vdupq_n_s32(out_offset),
                      vdupq_n_s32(act_min), vdupq_n_s32(act_max)};
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dilation_h, dil_w = p->dilation_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
    int8_t *zp_row = (int8_t *)scratch;
    const int8_t *tap[MAX_TAPS];
    memset(zp_row, (int8_t)(-p->input_offset), (size_t)depth);
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            const int32_t iy0 = oy * stride_h - pad_top;
            for (int32_t ox = 0; ox < out.w; ++ox) {
                const int32_t ix0 = ox * stride_w - pad_left;
                int32_t t = 0;
                for (int32_t fy = 0; fy < f.h; ++fy) {
                    const int32_t iy = iy0 + dil_h * fy;
                    const int row_in = iy >= 0 && iy < in.h;
                    const int8_t *row = input + (b * in.h + iy) * in.w * depth;
                    for (int32_t fx = 0; fx < f.w; ++fx, ++t) {
                        const int32_t ix = ix0 + dil_w * fx;
                        tap[t] = row_in && ix >= 0 && ix < in.w ? row + ix * depth : zp_row;
                    }
                }
                int8_t *o = output + ((b * out.h + oy) * out.w + ox) * depth;
                int32_t c = 0;
                for (; c < full; c += 16) {
                    channels16(&k, tap, c, o);
                }
                if (c < full8) {
                    channels8(&k, tap, c, o);
                    c += 8;
                }
                for (; c < depth; c += 4) {
                    channels4(&k, tap, c, o, out_offset, act_min, act_max);
                }
            }
        }
    }
#else
    (void)scratch;
    scalar_eval(p, input, output);
#endif
    return EK_OK;
}
