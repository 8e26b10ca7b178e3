/* DEPTHWISE_CONV_2D int8, optimised for the DSP extension; bit-exact with the reference kernel
 * (ek_depthwise_conv2d_s8_eval).
 *
 * Applies with depth multiplier 1 and a depth that is a multiple of 4 (otherwise the weights and bias stay as
 * they are and the reference kernel runs). Four channels at a time: one LDR of the input gives 4 channels of a
 * tap, SXTB16 splits them into (c0, c2) and (c1, c3), and SMLABB/SMLATT add each lane's product to its own
 * channel. The weights come packed and widened (ek_depthwise_conv2d_s8_dsp_pack, mirrored on the host): per
 * group of 4 channels, per tap, the words (w0, w2) and (w1, w3) as int16 lanes, so one LDRD feeds 4 MACs.
 *
 * The input offset leaves the inner loop: the packed bias is bias + input_offset * (sum of the channel's
 * weights over all taps), so the loop adds w * x only. A tap in the padding then has to add w * (-input_offset),
 * which is what reading the input zero point there does (the reference skips the tap: w * (zp + offset) = 0).
 * Sums are the reference's modulo 2^32, hence equal wherever the reference's int32 sum is defined. Where this
 * path applies, the (folded) bias is always given and the packed weights are read with LDRD: 4-byte aligned. */
#include "ek_dsp.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

#if defined(__ARM_FEATURE_DSP)
static inline int32_t smlabb(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t smlatt(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#define SXTB16(x) ek_sxtb16(x)
#define SXTB16_ROR8(x) ek_sxtb16_ror8(x)
#else  /* plain C with the same lanes (hosts, cores without DSP) */
static inline uint32_t SXTB16(uint32_t x) {
    return (uint32_t)(uint16_t)(int16_t)(int8_t)x | (uint32_t)(uint16_t)(int16_t)(int8_t)(x >> 16) << 16;
}
static inline uint32_t SXTB16_ROR8(uint32_t x) { return SXTB16(x >> 8 | x << 24); }
static inline int32_t smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)a * (int32_t)(int16_t)b));
}
static inline int32_t smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(a >> 16) * (int32_t)(int16_t)(b >> 16)));
}
#endif

static int dsp_applies(const ek_conv_params *p) {
    return p->depth_multiplier == 1 && p->input.c % 4 == 0;
}

/* The reference kernel's rules; where the DSP path applies, a bias (the folded one) and aligned weights. */
ek_status ek_depthwise_conv2d_s8_dsp_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    const ek_status s = ek_depthwise_conv2d_s8_prepare(p, scratch_bytes);
    if (s != EK_OK) {
        return s;
    }
    if (dsp_applies(p) && (p->bias == NULL || ((uintptr_t)p->weights & 3u) != 0)) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_depthwise_conv2d_s8_dsp_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_depthwise_conv2d_s8_dsp_scratch_bytes(const ek_conv_params *p) {
    (void)p;
    return 0;
}

void ek_depthwise_conv2d_s8_dsp_pack(const ek_conv_params *p, const int8_t *src, const int32_t *bias, int8_t *dst,
                                     int32_t *dst_bias) {
    const int32_t taps = p->filter.h * p->filter.w, c = p->filter.c;
    if (!dsp_applies(p)) {
        for (int32_t i = 0; i < taps * c; ++i) {
            dst[i] = src[i];
        }
        for (int32_t i = 0; bias != NULL && i < c; ++i) {
            dst_bias[i] = bias[i];
        }
        return;
    }
    static const int8_t lane[4] = {0, 2, 1, 3};  /* channel of halfword 0..3 within a group's two words */
    for (int32_t g = 0; g < c / 4; ++g) {
        for (int32_t t = 0; t < taps; ++t) {
            for (int32_t h = 0; h < 4; ++h) {
                const int16_t v = src[t * c + 4 * g + lane[h]];
                *dst++ = (int8_t)(v & 0xFF);
                *dst++ = (int8_t)((uint16_t)v >> 8);
            }
        }
    }
    for (int32_t ch = 0; ch < c; ++ch) {
        uint32_t sum = 0;
        for (int32_t t = 0; t < taps; ++t) {
            sum += (uint32_t)src[t * c + ch];
        }
        dst_bias[ch] = (int32_t)((bias != NULL ? (uint32_t)bias[ch] : 0u) + sum * (uint32_t)p->input_offset);
    }
}

#if defined(__ARM_FEATURE_DSP)
/* one tap of 4 channels from *x (then x += step) with the next two packed weight words (then wp += 8 bytes):
 * LDR, ADD, LDRD, 2 SXTB16, 4 SMLAxy; written as one asm block so the compiler keeps it in registers */
#define EK_DW_TAP_STEP(x, step, wp)                                                                           \
    do {                                                                                                       \
        uint32_t v_, t_, w02_, w13_;                                                                           \
        __asm("ldr %[v], [%[x]]\n\t"                                                                           \
              "add %[x], %[x], %[st]\n\t"                                                                       \
              "ldrd %[w0], %[w1], [%[wp]], #8\n\t"                                                             \
              "sxtb16 %[t], %[v]\n\t"                                                                          \
              "sxtb16 %[v], %[v], ror #8\n\t"                                                                  \
              "smlabb %[a0], %[t], %[w0], %[a0]\n\t"                                                           \
              "smlatt %[a2], %[t], %[w0], %[a2]\n\t"                                                           \
              "smlabb %[a1], %[v], %[w1], %[a1]\n\t"                                                           \
              "smlatt %[a3], %[v], %[w1], %[a3]"                                                               \
              : [v] "=&r"(v_), [t] "=&r"(t_), [w0] "=&r"(w02_), [w1] "=&r"(w13_), [x] "+r"(x), [wp] "+r"(wp),  \
                [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3)                                     \
              : [st] "r"(step), "m"(*(const uint32_t(*)[2])(const void *)wp));                                  \
    } while (0)
#else
#define EK_DW_TAP_STEP(x, step, wp)                                                                           \
    do {                                                                                                       \
        const uint32_t v_ = ek_load_u32(x);                                                                    \
        EK_DW_TAP(v_, wp);                                                                                     \
        (x) += (step);                                                                                         \
        (wp) += 2;                                                                                             \
    } while (0)
#endif

/* 4 channels of one output pixel: add every tap's products (x: tap (0, 0) of the group, all taps inside) */
#define EK_DW_TAP(v, wp)                                                                                      \
    do {                                                                                                       \
        const uint32_t v02 = SXTB16(v), v13 = SXTB16_ROR8(v), w02 = (wp)[0], w13 = (wp)[1];                    \
        a0 = smlabb(v02, w02, a0);                                                                             \
        a2 = smlatt(v02, w02, a2);                                                                             \
        a1 = smlabb(v13, w13, a1);                                                                             \
        a3 = smlatt(v13, w13, a3);                                                                             \
    } while (0)

static inline void store4(const ek_conv_params *p, int8_t *o, const int32_t *mult, const int32_t *shift, int32_t a0,
                          int32_t a1, int32_t a2, int32_t a3) {
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    o[0] = (int8_t)ek_clamp(ek_requantize_fast(a0, mult[0], shift[0]) + zp, lo, hi);
    o[1] = (int8_t)ek_clamp(ek_requantize_fast(a1, mult[1], shift[1]) + zp, lo, hi);
    o[2] = (int8_t)ek_clamp(ek_requantize_fast(a2, mult[2], shift[2]) + zp, lo, hi);
    o[3] = (int8_t)ek_clamp(ek_requantize_fast(a3, mult[3], shift[3]) + zp, lo, hi);
}

/* an output pixel whose taps all lie inside the input */
static void pixel_inside(const ek_conv_params *p, const int8_t *x0, int8_t *o) {
    const int32_t c = p->input.c, fh = p->filter.h, fw = p->filter.w;
    const int32_t step_x = p->dilation_w * c, step_y = p->dilation_h * p->input.w * c;
    const uint32_t *wp = (const uint32_t *)(const void *)p->weights;
    const int32_t *bias = p->bias, *mult = p->multiplier, *shift = p->shift;
    for (int32_t g = 0; g < c; g += 4, x0 += 4) {
        int32_t a0 = bias[g], a1 = bias[g + 1], a2 = bias[g + 2], a3 = bias[g + 3];
        const int32_t next_row = step_y - fw * step_x;
        const int8_t *x = x0;
        if (fw == 3) {
            for (int32_t fy = 0; fy < fh; ++fy) {
                EK_DW_TAP_STEP(x, step_x, wp);
                EK_DW_TAP_STEP(x, step_x, wp);
                EK_DW_TAP_STEP(x, step_x, wp);
                x += next_row;
            }
        } else {
            for (int32_t fy = 0; fy < fh; ++fy, x += next_row) {
                for (int32_t fx = 0; fx < fw; ++fx) {
                    EK_DW_TAP_STEP(x, step_x, wp);
                }
            }
        }
        store4(p, o + g, mult + g, shift + g, a0, a1, a2, a3);
    }
}

/* an output pixel with taps in the padding: those read four input zero points */
static void pixel_border(const ek_conv_params *p, int32_t b, int32_t iy0, int32_t ix0, const int8_t *input,
                         int8_t *o) {
    const ek_dims in = p->input;
    const int32_t c = in.c, fh = p->filter.h, fw = p->filter.w;
    const uint32_t zp4 = 0x01010101u * (uint8_t)(-p->input_offset);
    const uint32_t *wp = (const uint32_t *)(const void *)p->weights;
    const int32_t *bias = p->bias, *mult = p->multiplier, *shift = p->shift;
    for (int32_t g = 0; g < c; g += 4) {
        int32_t a0 = bias[g], a1 = bias[g + 1], a2 = bias[g + 2], a3 = bias[g + 3];
        for (int32_t fy = 0; fy < fh; ++fy) {
            const int32_t iy = iy0 + fy * p->dilation_h;
            for (int32_t fx = 0; fx < fw; ++fx, wp += 2) {
                const int32_t ix = ix0 + fx * p->dilation_w;
                const uint32_t v = (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w)
                                       ? ek_load_u32(input + ((b * in.h + iy) * in.w + ix) * c + g) : zp4;
                EK_DW_TAP(v, wp);
            }
        }
        store4(p, o + g, mult + g, shift + g, a0, a1, a2, a3);
    }
}

ek_status ek_depthwise_conv2d_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                          void *scratch) {
    if (!dsp_applies(p)) {
        return ek_depthwise_conv2d_s8_eval(p, input, output, scratch);
    }
    const ek_dims in = p->input, f = p->filter, out = p->output;
    const int32_t c = in.c;
    int8_t *o = output;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int rows_inside = iy0 >= 0 && iy0 + (f.h - 1) * p->dilation_h < in.h;
            for (int32_t ox = 0; ox < out.w; ++ox, o += c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                if (rows_inside && ix0 >= 0 && ix0 + (f.w - 1) * p->dilation_w < in.w) {
                    pixel_inside(p, input + ((b * in.h + iy0) * in.w + ix0) * c, o);
                } else {
                    pixel_border(p, b, iy0, ix0, input, o);
                }
            }
        }
    }
    return EK_OK;
}
