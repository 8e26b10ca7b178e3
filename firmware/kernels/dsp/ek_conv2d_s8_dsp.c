/* CONV_2D int8, optimised for the DSP extension; bit-exact with the reference kernel (ek_conv2d_s8_eval).
 *
 * Two output pixels at a time: im2col writes both columns into scratch as int16 (input + offset; zero where the
 * window lies in the padding, which is what the reference's skipped terms add), interleaved per group of 4
 * (A lo, A hi, B lo, B hi in SXTB16 order). Weights come packed (ek_conv2d_s8_dsp_pack, mirrored on the host):
 * pairs of output channels interleaved per group of 4 (4 bytes of channel 2q, 4 bytes of channel 2q+1), an odd
 * last channel plain. A 2x2 block (two channels x two pixels) of 16 MACs is then 3 LDRD, 4 SXTB16, 8 SMLAD.
 * Applies to every convolution that is not grouped. The column length k = filter h * w * depth is padded to a
 * multiple of 4 (kp) with zeros in both the columns and the packed weights; when the depth is a multiple of 4 the
 * columns are built 4 bytes at a time (a 1x1 convolution without padding: both pixels in one pass), otherwise
 * as an int8 column first, a filter row of taps being fw * depth contiguous input bytes copied by words, then
 * widened (a window inside the input with dilation 1 copies its filter rows without per-tap checks, unrolled
 * for a 3x3 filter over 3 channels; e.g. an RGB input, or DS-CNN's first layer, which litert writes as a
 * depthwise convolution of one input channel that the host turns back into this convolution). Grouped
 * convolutions keep the OHWI order and run the reference kernel. Packed weights are read with LDRD, so they must
 * be 4-byte aligned (prepare checks), as must the scratch (the host plans it 8-aligned).
 *
 * Fast path (ek_conv_mm2x2, Thumb-2): all channel pairs of a pixel pair in one call, the accumulators in registers
 * from the bias, two groups per loop step (16 instructions per 16 MACs), and the requantization in registers from a
 * per-eval table (bias, 2m - 2^32, ~shift per channel): SMMLAR, 4 ALU/SSAT, STRB per output. It needs what
 * ek_requantize_fast's short path needs, proven per channel once per eval from the bias and kp alone (fast_table);
 * any other layer (a shift >= 0, a huge bias, a clamp narrower than int8) runs the C 2x2 loop with
 * ek_requantize_fast and ek_clamp. An odd last channel, and the second pixel of an odd last pair (its outputs go
 * to a dummy row in scratch; on the fast path ek_conv_mm2x1 computes the one pixel only), are handled the same in
 * both. On the fast path two shapes skip the general pixel loop, whose bookkeeping cost as much as the multiplies
 * on small layers: a 1x1 convolution with stride 1 (pointwise_pairs: pixel pairs walked by pointer) and a 3x3
 * filter over 3 channels (rgb_eval: row by row, windows loaded as words, the input offset folded into the
 * biases). */
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

/* scratch: the two int16 columns (4 kp bytes), the fast path's per channel pair parameters (PAIR_WORDS words),
 * a dummy output row for an odd last pixel (out_c bytes rounded up to 4) and the int8 column of one pixel (kp + 4
 * bytes) */
#define PAIR_WORDS 6
static inline int32_t table_bytes(const ek_conv_params *p) {
    return p->filter.n / 2 * PAIR_WORDS * 4;
}
static inline int32_t dummy_bytes(const ek_conv_params *p) {
    return (p->filter.n + 3) & ~3;
}

int32_t ek_conv2d_s8_dsp_scratch_bytes(const ek_conv_params *p) {
    if (!dsp_applies(p)) {
        return 0;
    }
    const int32_t kp = padded_k(p);
    return 4 * kp + table_bytes(p) + dummy_bytes(p) + kp + 4;
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

static inline void store_u32(void *p, uint32_t v) {
    __builtin_memcpy(p, &v, sizeof v);
}

/* n bytes, a word at a time while whole words remain */
static inline void copy_bytes(int8_t *d, const int8_t *s, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        store_u32(d + i, ek_load_u32(s + i));
    }
    for (; i < n; ++i) {
        d[i] = s[i];
    }
}

static inline void fill_bytes(int8_t *d, int8_t v, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        d[i] = v;
    }
}

/* Any depth, first step: the column of output pixel (b, oy, ox) as k int8 values in d (a filter row of taps inside
 * the input is fw * depth contiguous input bytes, copied by words); taps in the padding hold the input zero point
 * (-input_offset, which the widening turns into 0, the reference's skipped term); the tail up to kp is 0. */
static void gather(const ek_conv_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox, int8_t *d) {
    const ek_dims in = p->input;
    const int32_t c = in.c, fw = p->filter.w, row = fw * c;
    const int8_t zp = (int8_t)(-p->input_offset);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    for (int32_t fy = 0; fy < p->filter.h; ++fy, d += row) {
        const int32_t iy = iy0 + p->dilation_h * fy;
        if (iy < 0 || iy >= in.h) {
            fill_bytes(d, zp, row);
            continue;
        }
        const int8_t *x = input + (b * in.h + iy) * in.w * c;
        if (p->dilation_w == 1 && ix0 >= 0 && ix0 + fw <= in.w) {
            copy_bytes(d, x + ix0 * c, row);
            continue;
        }
        for (int32_t fx = 0; fx < fw; ++fx) {
            const int32_t ix = ix0 + p->dilation_w * fx;
            if (ix < 0 || ix >= in.w) {
                fill_bytes(d + fx * c, zp, c);
            } else {
                copy_bytes(d + fx * c, x + ix * c, c);
            }
        }
    }
    store_u32(d, 0);  /* k .. kp - 1 (at most 3 values) */
}

/* gather for a window inside the input with dilation 1: fh rows of `row` contiguous bytes, `step` apart */
static inline void gather_inside(const int8_t *x, int32_t row, int32_t step, int32_t fh, int8_t *d) {
    for (int32_t fy = 0; fy < fh; ++fy, d += row, x += step) {
        copy_bytes(d, x, row);
    }
    store_u32(d, 0);  /* k .. kp - 1 (at most 3 values) */
}

static inline uint32_t load_u16(const void *p) {
    uint16_t v;
    __builtin_memcpy(&v, p, sizeof v);  /* one LDRH */
    return v;
}

/* A 3x3 window over 3 channels inside the input (dilation 1), straight into the int16 words col[4g + 0/1]: the
 * column is the 9 contiguous bytes of each of the 3 rows (x, rows rs bytes apart), 27 values and a 28th whose
 * weight is 0. Its 7 words come from 9 loads (unaligned LDR/LDRH are single instructions on this core) and 3
 * shifts/ORs, without the int8 column in scratch and the widening pass over it: 2 x 42 instructions per pixel
 * fewer on an RGB first layer (VWW's 96x96 one). */
static inline void rgb3x3_col(const int8_t *x, int32_t rs, uint32_t *col, uint32_t offset2) {
    const int8_t *x1 = x + rs, *x2 = x1 + rs;
#define EK_RGB_WORD(i, v)                                  \
    do {                                                   \
        const uint32_t v_ = (v);                           \
        col[4 * (i)] = ek_sadd16(ek_sxtb16(v_), offset2);  \
        col[4 * (i) + 1] = ek_sadd16(ek_sxtb16_ror8(v_), offset2); \
    } while (0)
    EK_RGB_WORD(0, ek_load_u32(x));
    EK_RGB_WORD(1, ek_load_u32(x + 4));
    EK_RGB_WORD(2, (uint32_t)(uint8_t)x[8] | ek_load_u32(x1) << 8);  /* r0[8], r1[0..2] */
    EK_RGB_WORD(3, ek_load_u32(x1 + 3));                              /* r1[3..6] */
    EK_RGB_WORD(4, load_u16(x1 + 7) | load_u16(x2) << 16);            /* r1[7..8], r2[0..1] */
    EK_RGB_WORD(5, ek_load_u32(x2 + 2));                              /* r2[2..5] */
    EK_RGB_WORD(6, ek_load_u32(x2 + 5) >> 8);                         /* r2[6..8], the zero-weight 28th */
#undef EK_RGB_WORD
}

/* rgb3x3_col without the input offset (rgb_eval folds it into the biases): 14 SADD16 a pixel fewer */
static inline void rgb3x3_col_raw(const int8_t *x, int32_t rs, uint32_t *col) {
    const int8_t *x1 = x + rs, *x2 = x1 + rs;
#define EK_RGB_WORD(i, v)                          \
    do {                                           \
        const uint32_t v_ = (v);                   \
        col[4 * (i)] = ek_sxtb16(v_);              \
        col[4 * (i) + 1] = ek_sxtb16_ror8(v_);     \
    } while (0)
    EK_RGB_WORD(0, ek_load_u32(x));
    EK_RGB_WORD(1, ek_load_u32(x + 4));
    EK_RGB_WORD(2, (uint32_t)(uint8_t)x[8] | ek_load_u32(x1) << 8);
    EK_RGB_WORD(3, ek_load_u32(x1 + 3));
    EK_RGB_WORD(4, load_u16(x1 + 7) | load_u16(x2) << 16);
    EK_RGB_WORD(5, ek_load_u32(x2 + 2));
    EK_RGB_WORD(6, ek_load_u32(x2 + 5) >> 8);
#undef EK_RGB_WORD
}

/* Second step: groups of 4 int8 values into the int16 words col[4g + 0/1] (plus the input offset) */
static void widen(const int8_t *d, uint32_t *col, int32_t groups, uint32_t offset2) {
    for (int32_t g = 0; g < groups; ++g, d += 4, col += 4) {
        const uint32_t w = ek_load_u32(d);
        col[0] = ek_sadd16(ek_sxtb16(w), offset2);
        col[1] = ek_sadd16(ek_sxtb16_ror8(w), offset2);
    }
}

/* Two pixels' depth (a 1x1 convolution without padding) into the columns, group by group */
static void widen2(const int8_t *xa, const int8_t *xb, uint32_t *col, int32_t groups, uint32_t offset2) {
    for (int32_t g = 0; g < groups; ++g, xa += 4, xb += 4) {
        const uint32_t wa = ek_load_u32(xa), wb = ek_load_u32(xb);
        col[0] = ek_sadd16(ek_sxtb16(wa), offset2);
        col[1] = ek_sadd16(ek_sxtb16_ror8(wa), offset2);
        col[2] = ek_sadd16(ek_sxtb16(wb), offset2);
        col[3] = ek_sadd16(ek_sxtb16_ror8(wb), offset2);
        col += 4;
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

/* an odd last channel (plain order, at w) for both pixels */
static void last_channel(const ek_conv_params *p, const uint32_t *col, const int8_t *w, int32_t oc, int8_t *outA,
                         int8_t *outB) {
    const int32_t groups = padded_k(p) / 4;
    int32_t a0 = 0, a1 = 0;
    for (int32_t g = 0; g < groups; ++g) {
        const uint32_t u = ek_load_u32(w + 4 * g);
        const uint32_t u0 = ek_sxtb16(u), u1 = ek_sxtb16_ror8(u);
        a0 = ek_smlad(u1, col[4 * g + 1], ek_smlad(u0, col[4 * g], a0));
        a1 = ek_smlad(u1, col[4 * g + 3], ek_smlad(u0, col[4 * g + 2], a1));
    }
    outA[oc] = finish(p, a0, oc);
    outB[oc] = finish(p, a1, oc);
}

/* The general path (any requantization and activation range): C over the same 2x2 blocks. */
static void matmul(const ek_conv_params *p, const uint32_t *col, int8_t *outA, int8_t *outB) {
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
        outB[oc] = quantize_out(a01, m0, s0, zp, lo, hi);
        outB[oc + 1] = quantize_out(a11, m1, s1, zp, lo, hi);
    }
    if (oc < out_c) {
        last_channel(p, col, w, oc, outA, outB);
    }
}

/* The fast path: per channel pair the words (bias 2q, bias 2q+1, multiplier 2q, 2q+1, ~shift 2q, 2q+1), which
 * ek_requantize_fast's short path takes (shift < 0, |acc| < 2^30), the multiplier m as 2m - 2^32 (see
 * ek_conv_mm2x2); it applies when every paired channel has m >= 2^30 (QuantizeMultiplier's range), shift < 0 and |bias| + kp * 128 * 255 < 2^30 (|weight| <= 128, |input + offset| <= 255: every sum of the channel
 * stays below 2^30), and the activation range is the whole of int8 (SSAT is the clamp). Returns 0 otherwise. */
static int fast_table(const ek_conv_params *p, int32_t *q) {
    if (p->act_min != -128 || p->act_max != 127) {
        return 0;
    }
    const int64_t lim = (1LL << 30) - (int64_t)padded_k(p) * 128 * 255;
    for (int32_t oc = 0; oc + 2 <= p->output.c; oc += 2, q += PAIR_WORDS) {
        for (int32_t r = 0; r < 2; ++r) {
            const int32_t b = p->bias != NULL ? p->bias[oc + r] : 0, s = p->shift[oc + r];
            if (s >= 0 || (int64_t)b >= lim || -(int64_t)b >= lim) {
                return 0;
            }
            if (p->multiplier[oc + r] < (1 << 30)) {
                return 0;
            }
            q[r] = b;
            q[2 + r] = (int32_t)(2u * (uint32_t)p->multiplier[oc + r]);  /* 2m - 2^32 */
            q[4 + r] = ~s;
        }
    }
    return 1;
}

/* ek_conv_mm2x2 reads its arguments from this block, which it also uses as its spill area: it keeps the
 * column pointer and the group count next to each other (one LDRD per channel pair), and parks the table and
 * output pointers in slots 2 and 3 while the multiply loop needs every register. */
typedef struct {
    const uint32_t *col;   /* 0: the two columns */
    int32_t groups;        /* 4: kp / 4 */
    const int32_t *q;      /* 8: fast_table (spill: the next pair's words) */
    int8_t *out;           /* 12: pixel A's outputs (spill: the next pair's) */
    int32_t k;             /* 16: 1 + 2 * output zero point */
    int32_t delta;         /* 20: pixel B's outputs - pixel A's */
    const int32_t *q_end;  /* 24: q + PAIR_WORDS * pairs */
    const int8_t *w;       /* 28: packed weights of the first pair */
} mm_args;

/* Every channel pair of two pixels (the fast path): per pair, 4 accumulators from the biases, per group of 4
 * values one LDRD of weights, 4 SXTB16, two LDRD of columns, 8 SMLAD (two groups per loop step; an odd count
 * enters the loop at its second group), then per accumulator ek_requantize_fast's short path as in the
 * depthwise kernel: t = SMMLAR(acc, 2m - 2^32, acc) = acc + floor(((2m - 2^32) acc + 2^31) / 2^32)
 * = floor((2m acc + 2^31) / 2^32), SMMULR of the doubled accumulator in one instruction; ADD ASR #31, ASR by
 * ~shift, ADD 1 + 2 zp, SSAT #8 of half; STRB. Bookkeeping per pair is 13 instructions (the weights pointer
 * runs on across pairs, the packed pairs being contiguous): on a layer of few MACs per output (VWW's 8->16
 * pointwise conv, k = 8) it was half the multiply work before.
 *   void ek_conv_mm2x2(mm_args *a) */
#define EK_MM_GROUP                 \
    "  ldrd r8, r10, [r1], #8\n"    \
    "  sxtb16 r9, r8, ror #8\n"     \
    "  sxtb16 r8, r8\n"             \
    "  sxtb16 r11, r10, ror #8\n"   \
    "  sxtb16 r10, r10\n"           \
    "  ldrd r2, r3, [r12], #8\n"    \
    "  smlad r4, r8, r2, r4\n"      \
    "  smlad r4, r9, r3, r4\n"      \
    "  smlad r5, r10, r2, r5\n"     \
    "  smlad r5, r11, r3, r5\n"     \
    "  ldrd r2, r3, [r12], #8\n"    \
    "  smlad r6, r8, r2, r6\n"      \
    "  smlad r6, r9, r3, r6\n"      \
    "  smlad r7, r10, r2, r7\n"     \
    "  smlad r7, r11, r3, r7\n"
#define EK_MM_REQ(a, m, e)                  \
    "  smmlar " a ", " a ", " m ", " a "\n"  \
    "  add " a ", " a ", " a ", asr #31\n"  \
    "  asr " a ", " a ", " e "\n"           \
    "  add " a ", " a ", r12\n"             \
    "  ssat " a ", #8, " a ", asr #1\n"
__asm(
    "  .text\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .p2align 2\n"
    "  .type ek_conv_mm2x2, %function\n"
    "ek_conv_mm2x2:\n"
    "  push {r4-r11, lr}\n"
    "  ldr r1, [r0, #28]\n"            /* r1 = w, for all pairs */
    "  ldrd r2, r3, [r0, #8]\n"        /* r2 = q, r3 = out */
    "1:\n"
    "  ldrd r12, lr, [r0]\n"           /* r12 = col, lr = groups */
    "  ldm r2!, {r4, r5}\n"            /* a00 = a01 = bias 2q, a10 = a11 = bias 2q+1 */
    "  strd r2, r3, [r0, #8]\n"
    "  mov r6, r4\n"
    "  mov r7, r5\n"
    "  lsrs lr, lr, #1\n"              /* lr = groups / 2, carry = groups odd */
    "  bcc 2f\n"
    "  add lr, lr, #1\n"
    "  b 3f\n"
    "2:\n"
    EK_MM_GROUP
    "3:\n"
    EK_MM_GROUP
    "  subs lr, lr, #1\n"
    "  bne 2b\n"
    "  ldrd r2, r3, [r0, #8]\n"
    "  ldm r2!, {r8, r9, r10, r11}\n"  /* m0, m1, e0, e1 */
    "  ldrd r12, lr, [r0, #16]\n"      /* r12 = k, lr = delta */
    EK_MM_REQ("r4", "r8", "r10")
    EK_MM_REQ("r6", "r8", "r10")
    EK_MM_REQ("r5", "r9", "r11")
    EK_MM_REQ("r7", "r9", "r11")
    "  strb r6, [r3, lr]\n"
    "  strb r4, [r3], #1\n"
    "  strb r7, [r3, lr]\n"
    "  strb r5, [r3], #1\n"
    "  ldr lr, [r0, #24]\n"
    "  cmp r2, lr\n"
    "  bne 1b\n"
    "  pop {r4-r11, pc}\n"
    "  .size ek_conv_mm2x2, . - ek_conv_mm2x2\n");
void ek_conv_mm2x2(mm_args *a);

/* ek_conv_mm2x2 for a single pixel (an odd last one: VWW's 3x3 late layers have 9, a fifth of their pairs'
 * work went to a dummy pixel): per group one LDRD of weights, 4 SXTB16, one LDRD of pixel A's column words
 * (pixel B's are stepped over), 4 SMLAD; the outputs at a->out only.
 *   void ek_conv_mm2x1(mm_args *a) */
__asm(
    "  .text\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .p2align 2\n"
    "  .type ek_conv_mm2x1, %function\n"
    "ek_conv_mm2x1:\n"
    "  push {r4-r11, lr}\n"
    "  ldr r1, [r0, #28]\n"
    "  ldrd r2, r3, [r0, #8]\n"
    "1:\n"
    "  ldrd r12, lr, [r0]\n"
    "  ldm r2!, {r4, r5}\n"
    "  strd r2, r3, [r0, #8]\n"
    "  lsrs lr, lr, #1\n"
    "  bcc 2f\n"
    "  add lr, lr, #1\n"
    "  b 3f\n"
    "2:\n"
    "  ldrd r8, r10, [r1], #8\n"
    "  sxtb16 r9, r8, ror #8\n"
    "  sxtb16 r8, r8\n"
    "  sxtb16 r11, r10, ror #8\n"
    "  sxtb16 r10, r10\n"
    "  ldrd r2, r3, [r12], #16\n"
    "  smlad r4, r8, r2, r4\n"
    "  smlad r4, r9, r3, r4\n"
    "  smlad r5, r10, r2, r5\n"
    "  smlad r5, r11, r3, r5\n"
    "3:\n"
    "  ldrd r8, r10, [r1], #8\n"
    "  sxtb16 r9, r8, ror #8\n"
    "  sxtb16 r8, r8\n"
    "  sxtb16 r11, r10, ror #8\n"
    "  sxtb16 r10, r10\n"
    "  ldrd r2, r3, [r12], #16\n"
    "  smlad r4, r8, r2, r4\n"
    "  smlad r4, r9, r3, r4\n"
    "  smlad r5, r10, r2, r5\n"
    "  smlad r5, r11, r3, r5\n"
    "  subs lr, lr, #1\n"
    "  bne 2b\n"
    "  ldrd r2, r3, [r0, #8]\n"
    "  ldm r2!, {r8, r9, r10, r11}\n"
    "  ldr r12, [r0, #16]\n"
    "  smmlar r4, r4, r8, r4\n"
    "  add r4, r4, r4, asr #31\n"
    "  asr r4, r4, r10\n"
    "  add r4, r4, r12\n"
    "  ssat r4, #8, r4, asr #1\n"
    "  smmlar r5, r5, r9, r5\n"
    "  add r5, r5, r5, asr #31\n"
    "  asr r5, r5, r11\n"
    "  add r5, r5, r12\n"
    "  ssat r5, #8, r5, asr #1\n"
    "  strb r4, [r3], #1\n"
    "  strb r5, [r3], #1\n"
    "  ldr lr, [r0, #24]\n"
    "  cmp r2, lr\n"
    "  bne 1b\n"
    "  pop {r4-r11, pc}\n"
    "  .size ek_conv_mm2x1, . - ek_conv_mm2x1\n"
);
void ek_conv_mm2x1(mm_args *a);

/* a 1x1 convolution with stride 1 and no padding, on the fast path: pixel i's depth is at input + i * depth, so
 * pixel pairs are walked with two pointers (the general loop in the eval recomputes the position of every pixel:
 * ~70 instructions a pair, as much as the multiplies of a pair of 8-deep pixels, VWW's 8->16 layer). Returns the
 * pixels done (all but an odd last one). */
__attribute__((noinline)) static int32_t pointwise_pairs(const ek_conv_params *p, const int8_t *input,
                                                         int8_t *output, mm_args *a, uint32_t *col,
                                                         const int8_t *w_last, int32_t groups, uint32_t offset2) {
    const int32_t c = p->input.c, oc = p->output.c, pixels = p->output.n * p->output.h * p->output.w;
    const int32_t *table = a->q;
    const int8_t *x = input;
    int8_t *o = output;
    int32_t i = 0;
    for (; i + 2 <= pixels; i += 2, x += 2 * c, o += 2 * oc) {
        widen2(x, x + c, col, groups, offset2);
        __asm volatile("" ::: "memory");  /* the columns are complete before the asm loads read them */
        a->q = table;
        a->out = o;
        a->delta = oc;
        ek_conv_mm2x2(a);
        if (oc & 1) {
            last_channel(p, col, w_last, oc - 1, o, o + oc);
        }
    }
    return i;
}

/* a 3x3 filter over RGB (VWW's first layer) with pairs of pixels on one output row, on the fast path: walked row
 * by row, the windows inside the input loaded as words (rgb3x3_col); the general loop in the eval spends ~115
 * instructions a pair on locating its pixels, a sixth of this layer. Out of line so that the general loop keeps
 * its registers. */
__attribute__((noinline)) static void rgb_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                               mm_args *a, uint32_t *col, int8_t *bytes, const int8_t *w_last,
                                               int32_t groups, uint32_t offset2) {
    const ek_dims in = p->input, out = p->output;
    int32_t *table = (int32_t *)(uintptr_t)a->q;
    const int32_t rs = in.w * in.c, sw3 = p->stride_w * in.c;
    /* The input offset goes into the table's biases: bias + offset * (sum of the channel's weights), so the
     * columns are the input's values as they are. A tap in the padding then holds the input zero point (gather
     * writes it), whose product cancels the offset's share: the reference skips such a tap. The sums are the
     * reference's modulo 2^32, hence equal (fast_table bounds every partial sum below 2^30). */
    const int fold = out.c % 2 == 0;  /* last_channel (an odd last channel) takes the offset from the columns */
    const int8_t *wp = p->weights;
    for (int32_t q = 0; fold && q < out.c / 2; ++q, table += PAIR_WORDS) {
        uint32_t s0 = 0, s1 = 0;
        for (int32_t g = 0; g < groups; ++g, wp += 8) {
            s0 += (uint32_t)(wp[0] + wp[1] + wp[2] + wp[3]);
            s1 += (uint32_t)(wp[4] + wp[5] + wp[6] + wp[7]);
        }
        table[0] = (int32_t)((uint32_t)table[0] + s0 * (uint32_t)p->input_offset);
        table[1] = (int32_t)((uint32_t)table[1] + s1 * (uint32_t)p->input_offset);
    }
    table = (int32_t *)(uintptr_t)a->q;
    int8_t *o = output;
    for (int32_t b = 0; b < out.n; ++b) {
        for (int32_t oy = 0; oy < out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int rows_in = iy0 >= 0 && iy0 + 3 <= in.h;
            const int8_t *xrow = rows_in ? input + (b * in.h + iy0) * rs : input;
            for (int32_t ox = 0; ox < out.w; ox += 2, o += 2 * out.c) {
                const int32_t ixa = ox * p->stride_w - p->pad_left;
                if (rows_in && ixa >= 0 && ixa + p->stride_w + 3 <= in.w) {
                    if (fold) {
                        rgb3x3_col_raw(xrow + ixa * in.c, rs, col);
                        rgb3x3_col_raw(xrow + ixa * in.c + sw3, rs, col + 2);
                    } else {
                        rgb3x3_col(xrow + ixa * in.c, rs, col, offset2);
                        rgb3x3_col(xrow + ixa * in.c + sw3, rs, col + 2, offset2);
                    }
                } else {  /* a window in the padding */
                    gather(p, input, b, oy, ox, bytes);
                    widen(bytes, col, groups, fold ? 0 : offset2);
                    gather(p, input, b, oy, ox + 1, bytes);
                    widen(bytes, col + 2, groups, fold ? 0 : offset2);
                }
                __asm volatile("" ::: "memory");  /* the columns are complete before the asm loads read them */
                a->q = table;
                a->out = o;
                a->delta = out.c;
                ek_conv_mm2x2(a);
                if (out.c & 1) {
                    last_channel(p, col, w_last, out.c - 1, o, o + out.c);
                }
            }
        }
    }
}

ek_status ek_conv2d_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    if (!dsp_applies(p)) {
        return ek_conv2d_s8_eval(p, input, output, scratch);
    }
    const ek_dims out = p->output;
    const int32_t kp = padded_k(p), groups = kp / 4, fast = p->input.c % 4 == 0, pairs = out.c / 2;
    const uint32_t offset2 = ((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16);
    uint32_t *col = (uint32_t *)scratch;
    int32_t *table = (int32_t *)(void *)((uint8_t *)scratch + 4 * kp);
    int8_t *dummy = (int8_t *)table + table_bytes(p), *bytes = dummy + dummy_bytes(p);
    const int fastq = pairs > 0 && fast_table(p, table);
    mm_args a;
    a.col = col;
    a.groups = groups;
    a.w = p->weights;
    a.q_end = table + PAIR_WORDS * pairs;
    a.k = 1 + 2 * p->output_offset;
    const int8_t *w_last = p->weights + pairs * 2 * kp;
    const int32_t pixels = out.n * out.h * out.w;
    const ek_dims in = p->input;
    const int pointwise = fast && p->filter.h == 1 && p->filter.w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
                          (out.h - 1) * p->stride_h < in.h && (out.w - 1) * p->stride_w < in.w;
    const int dil1 = p->dilation_h == 1 && p->dilation_w == 1;
    const int32_t frow = p->filter.w * in.c;
    int32_t i0 = 0;
    if (fastq && pointwise && out.h == in.h && out.w == in.w) {
        a.q = table;
        i0 = pointwise_pairs(p, input, output, &a, col, w_last, groups, offset2);
    }
    if (fastq && !fast && dil1 && frow == 9 && p->filter.h == 3 && out.w % 2 == 0) {
        a.q = table;
        rgb_eval(p, input, output, &a, col, bytes, w_last, groups, offset2);
        return EK_OK;
    }
    const int32_t plane_px = out.h * out.w;
    int32_t b = i0 / plane_px, oy = i0 % plane_px / out.w, ox = i0 % out.w;  /* pixel i */
    for (int32_t i = i0; i < pixels; i += 2) {
        const int32_t npix = i + 1 < pixels ? 2 : 1;
        if (pointwise && npix == 2) {  /* 1x1, no padding: both pixels' depth, widened side by side */
            const int8_t *xa = input + ((b * in.h + oy * p->stride_h) * in.w + ox * p->stride_w) * in.c;
            if (++ox == out.w) {
                ox = 0;
                if (++oy == out.h) {
                    oy = 0;
                    ++b;
                }
            }
            const int8_t *xb = input + ((b * in.h + oy * p->stride_h) * in.w + ox * p->stride_w) * in.c;
            if (++ox == out.w) {
                ox = 0;
                if (++oy == out.h) {
                    oy = 0;
                    ++b;
                }
            }
            widen2(xa, xb, col, groups, offset2);
        } else
        for (int32_t j = 0; j < 2; ++j) {
            if (j < npix) {
                if (fast) {
                    im2col(p, input, b, oy, ox, col + 2 * j, offset2);
                } else {
                    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                    if (dil1 && iy0 >= 0 && iy0 + p->filter.h <= in.h && ix0 >= 0 && ix0 + p->filter.w <= in.w) {
                        const int8_t *x0 = input + ((b * in.h + iy0) * in.w + ix0) * in.c;
                        if (frow == 9 && p->filter.h == 3) {  /* a 3x3 filter over RGB: the copies unrolled */
                            gather_inside(x0, 9, in.w * in.c, 3, bytes);
                        } else {
                            gather_inside(x0, frow, in.w * in.c, p->filter.h, bytes);
                        }
                    } else {
                        gather(p, input, b, oy, ox, bytes);
                    }
                    widen(bytes, col + 2 * j, groups, offset2);
                }
                if (++ox == out.w) {
                    ox = 0;
                    if (++oy == out.h) {
                        oy = 0;
                        ++b;
                    }
                }
            } else {
                for (int32_t g = 0; g < groups; ++g) {  /* no second pixel: zeros, outputs to the dummy row */
                    col[4 * g + 2] = 0;
                    col[4 * g + 3] = 0;
                }
            }
        }
        __asm volatile("" ::: "memory");  /* the columns are complete before the asm loads read them */
        int8_t *outA = output + i * out.c, *outB = npix == 2 ? outA + out.c : dummy;
        if (fastq) {
            a.q = table;  /* the call leaves its spills in q and out */
            a.out = outA;
            a.delta = (int32_t)((uintptr_t)outB - (uintptr_t)outA);
            if (npix == 2) {
                ek_conv_mm2x2(&a);
            } else {
                ek_conv_mm2x1(&a);
            }
            if (out.c & 1) {
                last_channel(p, col, w_last, out.c - 1, outA, outB);
            }
        } else {
            matmul(p, col, outA, outB);
        }
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
