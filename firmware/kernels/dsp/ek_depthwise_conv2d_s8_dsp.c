/* DEPTHWISE_CONV_2D int8, optimised for the DSP extension; bit-exact with the reference kernel
 * (ek_depthwise_conv2d_s8_eval). Two paths, both with depth multiplier 1 (otherwise the weights and bias stay as
 * they are and the reference kernel runs):
 *
 * 3x3 path (filter 3x3, dilation 1, stride_w 1 or 2, any stride_h, depth a multiple of 4): channel by channel over planes.
 * A band of input rows of 4 channels is transposed into scratch as 4 int16 planes (channel-major; columns the
 * window reaches in the padding hold the input zero point), 2 LDR + 4 SXTB16 + 4 PKHBT/PKHTB + 4 STR per 8
 * values. Then, per channel, the 9 weights stay in 6 registers as int16 pairs (w0, w1) and (w1, w2) of each
 * row (packed and doubled by ek_depthwise_conv2d_s8_dsp_pack) while the kernel sweeps the plane: two outputs
 * per step, per filter row one LDRD of 4 columns and 4 SMLAD/SMLAxy (stride 1), i.e. 15 instructions for 18
 * MACs. Where the activation range is the whole of int8 (trained layers: ReLU folded into the zero point), one
 * call per channel (ek_dw3_chq_s1/_s2) runs the band's rows and requantizes each pair of accumulators (twice the
 * reference's: doubled weights and bias) in registers as it goes: SMMULR of the doubled accumulator and 3 ALU
 * instructions, SSAT, STRB; 34 instructions per 2 outputs at stride 1. Otherwise the accumulators go to scratch
 * and a second pass requantizes them, clamping. Both are ek_requantize_fast's short path (shift < 0,
 * |acc| < 2^30), which the channel's weights and bias guarantee when |bias| + 128 * sum |w| < 2^30 (checked
 * per channel; any other channel is summed and requantized value by value with ek_requantize).
 *
 * 4-channel path (other filters; depth a multiple of 4): four channels at a time: one LDR of the input gives 4
 * channels of a tap, SXTB16 splits them into (c0, c2) and (c1, c3), and SMLABB/SMLATT add each lane's product to
 * its own channel. The weights come packed and widened: per group of 4 channels, per tap, the words (w0, w2) and
 * (w1, w3) as int16 lanes, so one LDRD feeds 4 MACs.
 *
 * Both paths take the input offset out of the inner loop: the packed bias is bias + input_offset * (sum of the
 * channel's weights over all taps), so the loop adds w * x only. A tap in the padding then has to add
 * w * (-input_offset), which is what reading the input zero point there does (the reference skips the tap:
 * w * (zp + offset) = 0). Sums are the reference's modulo 2^32, hence equal wherever the reference's int32 sum is
 * defined. Where a path applies, the (folded) bias is always given and the packed weights are read with LDRD:
 * 4-byte aligned; the scratch is 8-byte aligned (the host plans it so). */
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

/* the 4-channel path */
static int dsp_applies(const ek_conv_params *p) {
    return p->depth_multiplier == 1 && p->input.c % 4 == 0;
}

/* the 3x3 path. It sweeps the longer output axis: planes are stored transposed (a plane row is an image column)
 * when the output has more rows than columns, so that the inner loops run long; "virtual" rows and columns below
 * are those of the plane. */
typedef struct {
    int32_t t;                       /* 1: plane rows are image columns */
    int32_t in_h, in_w, out_h, out_w, sh, sw, pad_top, pad_left;
    int32_t in_sx, in_sy, out_sx, out_sy;  /* byte steps of one virtual column / row (input, output) */
} dw_geom;

static inline int stride_ok(int32_t s) { return s == 1 || s == 2; }

static int plane_applies(const ek_conv_params *p) {
    return p->depth_multiplier == 1 && p->input.c % 4 == 0 && p->filter.h == 3 && p->filter.w == 3 &&
           p->dilation_h == 1 && p->dilation_w == 1 && p->stride_h >= 1 && p->stride_w >= 1 &&
           (stride_ok(p->stride_w) || stride_ok(p->stride_h));
}

static int plane_transposed(const ek_conv_params *p) {
    return stride_ok(p->stride_h) && (p->output.h > p->output.w || !stride_ok(p->stride_w));
}

static dw_geom geom(const ek_conv_params *p) {
    const ek_dims in = p->input, out = p->output;
    dw_geom g;
    g.t = plane_transposed(p);
    if (g.t) {
        g.in_h = in.w, g.in_w = in.h, g.out_h = out.w, g.out_w = out.h, g.sh = p->stride_w, g.sw = p->stride_h;
        g.pad_top = p->pad_left, g.pad_left = p->pad_top;
        g.in_sx = in.w * in.c, g.in_sy = in.c, g.out_sx = out.w * out.c, g.out_sy = out.c;
    } else {
        g.in_h = in.h, g.in_w = in.w, g.out_h = out.h, g.out_w = out.w, g.sh = p->stride_h, g.sw = p->stride_w;
        g.pad_top = p->pad_top, g.pad_left = p->pad_left;
        g.in_sx = in.c, g.in_sy = in.w * in.c, g.out_sx = out.c, g.out_sy = out.w * out.c;
    }
    return g;
}

/* scratch = 4 planes of `rows` rows of `pw` int16 (pw even: rows stay 4-byte aligned), then `band` rows of out_w
 * int32 accumulators. `band` output rows at a time: all of them when that fits EK_DW_SCRATCH_BUDGET bytes, else
 * as many as fit (at least one). */
#define EK_DW_SCRATCH_BUDGET 4096
#define EK_DW_GROUP 4
static inline int32_t plane_w(const dw_geom *g) {
    return ((g->out_w - 1) * g->sw + 3 + 1) & ~1;
}
static inline int32_t plane_rows(const dw_geom *g, int32_t band) {
    return (band - 1) * g->sh + 3;
}
static inline int32_t plane_bytes(const dw_geom *g, int32_t band) {
    return EK_DW_GROUP * plane_rows(g, band) * plane_w(g) * 2 + band * g->out_w * 4;
}
static int32_t plane_band(const dw_geom *g) {
    int32_t band = g->out_h;
    while (band > 1 && plane_bytes(g, band) > EK_DW_SCRATCH_BUDGET) {
        --band;
    }
    return band;
}

/* The reference kernel's rules; where a DSP path applies, a bias (the folded one) and aligned weights. */
ek_status ek_depthwise_conv2d_s8_dsp_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    const ek_status s = ek_depthwise_conv2d_s8_prepare(p, scratch_bytes);
    if (s != EK_OK) {
        return s;
    }
    if ((plane_applies(p) || dsp_applies(p)) && (p->bias == NULL || ((uintptr_t)p->weights & 3u) != 0)) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_depthwise_conv2d_s8_dsp_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_depthwise_conv2d_s8_dsp_scratch_bytes(const ek_conv_params *p) {
    if (!plane_applies(p)) {
        return 0;
    }
    const dw_geom g = geom(p);
    return plane_bytes(&g, plane_band(&g));
}

static void put16(int8_t **dst, int32_t v) {
    *(*dst)++ = (int8_t)(v & 0xFF);
    *(*dst)++ = (int8_t)((uint32_t)v >> 8 & 0xFF);
}

void ek_depthwise_conv2d_s8_dsp_pack(const ek_conv_params *p, const int8_t *src, const int32_t *bias, int8_t *dst,
                                     int32_t *dst_bias) {
    const int32_t taps = p->filter.h * p->filter.w, c = p->filter.c;
    const int plane = plane_applies(p);
    if (!plane && !dsp_applies(p)) {
        for (int32_t i = 0; i < taps * c; ++i) {
            dst[i] = src[i];
        }
        for (int32_t i = 0; bias != NULL && i < c; ++i) {
            dst_bias[i] = bias[i];
        }
        return;
    }
    if (plane) {  /* per channel, per plane filter row, (2 w0, 2 w1) and (2 w1, 2 w2) as int16 lanes */
        const int32_t sr = plane_transposed(p) ? 1 : 3, sc = 4 - sr;  /* tap steps of a plane row, column */
        for (int32_t ch = 0; ch < c; ++ch) {
            for (int32_t r = 0; r < 3; ++r) {
                const int32_t w0 = 2 * src[(sr * r) * c + ch], w1 = 2 * src[(sr * r + sc) * c + ch],
                              w2 = 2 * src[(sr * r + 2 * sc) * c + ch];
                put16(&dst, w0);
                put16(&dst, w1);
                put16(&dst, w1);
                put16(&dst, w2);
            }
        }
    } else {
        static const int8_t lane[4] = {0, 2, 1, 3};  /* channel of halfword 0..3 within a group's two words */
        for (int32_t g = 0; g < c / 4; ++g) {
            for (int32_t t = 0; t < taps; ++t) {
                for (int32_t h = 0; h < 4; ++h) {
                    put16(&dst, src[t * c + 4 * g + lane[h]]);
                }
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

/* ---- 3x3 path ---------------------------------------------------------------------------------------------- */

#if defined(__ARM_FEATURE_DSP)
static inline int32_t smlabt(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm("smlabt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t smlatb(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm("smlatb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#define DW_SMLAD(a, b, acc) ek_smlad(a, b, acc)
/* (lo(a), lo(b)) and (hi(a), hi(b)) */
static inline uint32_t pk_lo(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t pk_hi(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}
static inline int32_t smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* saturate (v >> 1) to int8 */
static inline int32_t ssat8_half(int32_t v) {
    int32_t r;
    __asm("ssat %0, #8, %1, asr #1" : "=r"(r) : "r"(v));
    return r;
}
#define DW_SXTB16(x) ek_sxtb16(x)
#define DW_SXTB16_ROR8(x) ek_sxtb16_ror8(x)
#else
static inline int32_t lo16(uint32_t a) { return (int16_t)(a & 0xFFFFu); }
static inline int32_t hi16(uint32_t a) { return (int16_t)(a >> 16); }
static inline int32_t smlabt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * hi16(b)));
}
static inline int32_t smlatb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(hi16(a) * lo16(b)));
}
static inline int32_t DW_SMLAD(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * lo16(b)) + (uint32_t)(hi16(a) * hi16(b)));
}
static inline uint32_t pk_lo(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | b << 16; }
static inline uint32_t pk_hi(uint32_t a, uint32_t b) { return a >> 16 | (b & 0xFFFF0000u); }
static inline int32_t smmulr(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * b + (1LL << 31)) >> 32);
}
static inline int32_t ssat8_half(int32_t v) { return ek_clamp(v >> 1, -128, 127); }
static inline uint32_t DW_SXTB16(uint32_t x) {
    return (uint32_t)(uint16_t)(int16_t)(int8_t)x | (uint32_t)(uint16_t)(int16_t)(int8_t)(x >> 16) << 16;
}
static inline uint32_t DW_SXTB16_ROR8(uint32_t x) { return DW_SXTB16(x >> 8 | x << 24); }
#endif

static inline uint32_t load_w(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
static inline void store_w(void *p, uint32_t v) {
    __builtin_memcpy(p, &v, sizeof v);
}

/* Plane rows [iy0, iy0 + rows) of channels c0 .. c0 + 3 of batch b into planes pl + k * rows * pw: plane column j
 * is virtual input column j - pad_left; planes are `plane` int16 apart; the columns outside the input hold zp
 * (written once by fill_planes), rows outside it are written zp here. */
static void fill_planes(int32_t n, int16_t zp, int16_t *pl) {
    for (int32_t i = 0; i < n; ++i) {
        pl[i] = zp;
    }
}

/* pad_rows: write the rows outside the input (zp); 0 when every band maps plane rows to the same input rows (one
 * band per image), so that fill_planes' zp there is never overwritten (VWW's 6x6 layers: 2 of 8 rows) */
static void transpose_band(const ek_conv_params *p, const dw_geom *g, const int8_t *input, int32_t iy0,
                           int32_t rows, int32_t plane, int16_t *pl, int pad_rows) {
    const int32_t pw = plane_w(g), sx = g->in_sx;
    const int16_t zp = (int16_t)(-p->input_offset);
    const uint32_t zp4 = 0x01010101u * (uint8_t)zp;
    int32_t jl = g->pad_left, jr = g->pad_left + g->in_w;
    jl = jl < 0 ? 0 : (jl > pw ? pw : jl);
    jr = jr > pw ? pw : (jr < jl ? jl : jr);
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t iy = iy0 + r;
        int16_t *row = pl + r * pw;
        if (iy < 0 || iy >= g->in_h) {
            for (int32_t k = 0; pad_rows && k < EK_DW_GROUP; ++k) {
                for (int32_t j = jl; j < jr; ++j) {
                    row[k * plane + j] = zp;
                }
            }
            continue;
        }
        const int8_t *x = input + iy * g->in_sy + (jl - g->pad_left) * sx;
        int16_t *q0 = row + jl, *q1 = q0 + plane, *q2 = q1 + plane, *q3 = q2 + plane;
        int32_t j = jl;
        for (; j + 2 <= jr; j += 2, x += 2 * sx, q0 += 2, q1 += 2, q2 += 2, q3 += 2) {
            const uint32_t va = load_w(x), vb = load_w(x + sx);
            const uint32_t a02 = DW_SXTB16(va), a13 = DW_SXTB16_ROR8(va);
            const uint32_t b02 = DW_SXTB16(vb), b13 = DW_SXTB16_ROR8(vb);
            store_w(q0, pk_lo(a02, b02));
            store_w(q2, pk_hi(a02, b02));
            store_w(q1, pk_lo(a13, b13));
            store_w(q3, pk_hi(a13, b13));
        }
        if (j < jr) {  /* the last column, paired with zp (column jr lies in the padding or past the window) */
            const uint32_t va = load_w(x);
            const uint32_t a02 = DW_SXTB16(va), a13 = DW_SXTB16_ROR8(va);
            const uint32_t b02 = DW_SXTB16(zp4), b13 = b02;
            if (j + 1 < pw) {
                store_w(q0, pk_lo(a02, b02));
                store_w(q2, pk_hi(a02, b02));
                store_w(q1, pk_lo(a13, b13));
                store_w(q3, pk_hi(a13, b13));
            } else {
                *q0 = (int16_t)a02;
                *q2 = (int16_t)(a02 >> 16);
                *q1 = (int16_t)a13;
                *q3 = (int16_t)(a13 >> 16);
            }
        }
    }
}

#if defined(__ARM_FEATURE_DSP)
/* One output row, two outputs per step, with the weights of filter rows 0 and 1 in registers (wab: 4 words) and
 * those of row 2 reloaded with the two biases by one LDM from the stack (blk: bias2, bias2, w01c, w12c):
 *   void ek_dw3_row_s1(r0 = row 0, r1 = row 1, r2 = row 2, r3 = acc out, [sp] = wab, [sp + 4] = blk,
 *                      [sp + 8] = end of row 0 (row 0 + 4 bytes per pair))
 * stride 1: per row one LDRD of columns x .. x + 3 and SMLAD/SMLATB/SMLABT/SMLAD; stride 2 (ek_dw3_row_s2): LDRD
 * of x .. x + 3 and LDR of x + 4, 5, end = row 0 + 8 bytes per pair. */
__asm(
    "  .text\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .p2align 2\n"
    "  .type ek_dw3_row_s1, %function\n"
    "ek_dw3_row_s1:\n"
    "  push {r4-r11, lr}\n"
    "  ldr r12, [sp, #36]\n"            /* wab */
    "  ldm r12, {r4, r5, r6, r7}\n"
    "  ldr r12, [sp, #40]\n"            /* blk */
    "  ldm r12, {r8, r9, r10, r11}\n"
    "  ldr lr, [sp, #44]\n"             /* end */
    "  sub sp, sp, #24\n"
    "  stm sp, {r8, r9, r10, r11}\n"
    "  str lr, [sp, #16]\n"
    "1:\n"
    "  ldm sp, {r8, r9, r10, r11}\n"
    "  ldrd r12, lr, [r2], #4\n"
    "  smlad r8, r12, r10, r8\n"
    "  smlatb r9, r12, r10, r9\n"
    "  smlabt r8, lr, r11, r8\n"
    "  smlad r9, lr, r11, r9\n"
    "  ldrd r12, lr, [r0], #4\n"
    "  smlad r8, r12, r4, r8\n"
    "  smlatb r9, r12, r4, r9\n"
    "  smlabt r8, lr, r5, r8\n"
    "  smlad r9, lr, r5, r9\n"
    "  ldrd r12, lr, [r1], #4\n"
    "  smlad r8, r12, r6, r8\n"
    "  smlatb r9, r12, r6, r9\n"
    "  smlabt r8, lr, r7, r8\n"
    "  smlad r9, lr, r7, r9\n"
    "  strd r8, r9, [r3], #8\n"
    "  ldr r8, [sp, #16]\n"
    "  cmp r0, r8\n"
    "  bne 1b\n"
    "  add sp, sp, #24\n"
    "  pop {r4-r11, pc}\n"
    "  .size ek_dw3_row_s1, . - ek_dw3_row_s1\n"
    "  .p2align 2\n"
    "  .type ek_dw3_row_s2, %function\n"
    "ek_dw3_row_s2:\n"
    "  push {r4-r11, lr}\n"
    "  ldr r12, [sp, #36]\n"
    "  ldm r12, {r4, r5, r6, r7}\n"
    "  ldr r12, [sp, #40]\n"
    "  ldm r12, {r8, r9, r10, r11}\n"
    "  ldr lr, [sp, #44]\n"
    "  sub sp, sp, #24\n"
    "  stm sp, {r8, r9, r10, r11}\n"
    "  str lr, [sp, #16]\n"
    "2:\n"
    "  ldm sp, {r8, r9, r10, r11}\n"
    "  ldrd r12, lr, [r2], #8\n"
    "  smlad r8, r12, r10, r8\n"
    "  smlabt r8, lr, r11, r8\n"
    "  smlad r9, lr, r10, r9\n"
    "  ldr r12, [r2]\n"
    "  smlabt r9, r12, r11, r9\n"
    "  ldrd r12, lr, [r0], #8\n"
    "  smlad r8, r12, r4, r8\n"
    "  smlabt r8, lr, r5, r8\n"
    "  smlad r9, lr, r4, r9\n"
    "  ldr r12, [r0]\n"
    "  smlabt r9, r12, r5, r9\n"
    "  ldrd r12, lr, [r1], #8\n"
    "  smlad r8, r12, r6, r8\n"
    "  smlabt r8, lr, r7, r8\n"
    "  smlad r9, lr, r6, r9\n"
    "  ldr r12, [r1]\n"
    "  smlabt r9, r12, r7, r9\n"
    "  strd r8, r9, [r3], #8\n"
    "  ldr r8, [sp, #16]\n"
    "  cmp r0, r8\n"
    "  bne 2b\n"
    "  add sp, sp, #24\n"
    "  pop {r4-r11, pc}\n"
    "  .size ek_dw3_row_s2, . - ek_dw3_row_s2\n");
void ek_dw3_row_s1(const uint32_t *r0, const uint32_t *r1, const uint32_t *r2, int32_t *o, const uint32_t *wab,
                   const int32_t *blk, const uint32_t *end);
void ek_dw3_row_s2(const uint32_t *r0, const uint32_t *r1, const uint32_t *r2, int32_t *o, const uint32_t *wab,
                   const int32_t *blk, const uint32_t *end);
#endif

/* one channel: accumulators (doubled) of `band` output rows from its plane pl into acc; w: its 6 weight words */
static void channel_acc(const dw_geom *g, const int16_t *pl, const uint32_t *w, int32_t bias2, int32_t band,
                        int32_t *acc) {
    const int32_t pw = plane_w(g), ow = g->out_w, sh = g->sh, pairs = ow / 2;
    const uint32_t w01a = w[0], w12a = w[1], w01b = w[2], w12b = w[3], w01c = w[4], w12c = w[5];
#if defined(__ARM_FEATURE_DSP)
    const int32_t blk[4] = {bias2, bias2, (int32_t)w01c, (int32_t)w12c};
#endif
    for (int32_t r = 0; r < band; ++r, acc += ow) {
        const uint32_t *r0 = (const uint32_t *)(const void *)(pl + r * sh * pw);
        const uint32_t *r1 = r0 + pw / 2, *r2 = r1 + pw / 2;
        int32_t *o = acc;
        const int32_t step = g->sw;  /* words per pair */
#if defined(__ARM_FEATURE_DSP)
        if (pairs > 0) {
            if (step == 1) {
                ek_dw3_row_s1(r0, r1, r2, o, w, blk, r0 + pairs);
            } else {
                ek_dw3_row_s2(r0, r1, r2, o, w, blk, r0 + 2 * pairs);
            }
            r0 += step * pairs;
            r1 += step * pairs;
            r2 += step * pairs;
            o += 2 * pairs;
        }
#else
        for (int32_t x = 0; x < pairs; ++x, r0 += step, r1 += step, r2 += step, o += 2) {
            int32_t s0 = bias2, s1 = bias2;
            if (step == 1) {
                s0 = smlabt(r0[1], w12a, DW_SMLAD(r0[0], w01a, s0));
                s1 = DW_SMLAD(r0[1], w12a, smlatb(r0[0], w01a, s1));
                s0 = smlabt(r1[1], w12b, DW_SMLAD(r1[0], w01b, s0));
                s1 = DW_SMLAD(r1[1], w12b, smlatb(r1[0], w01b, s1));
                s0 = smlabt(r2[1], w12c, DW_SMLAD(r2[0], w01c, s0));
                s1 = DW_SMLAD(r2[1], w12c, smlatb(r2[0], w01c, s1));
            } else {
                s0 = smlabt(r0[1], w12a, DW_SMLAD(r0[0], w01a, s0));
                s1 = smlabt(r0[2], w12a, DW_SMLAD(r0[1], w01a, s1));
                s0 = smlabt(r1[1], w12b, DW_SMLAD(r1[0], w01b, s0));
                s1 = smlabt(r1[2], w12b, DW_SMLAD(r1[1], w01b, s1));
                s0 = smlabt(r2[1], w12c, DW_SMLAD(r2[0], w01c, s0));
                s1 = smlabt(r2[2], w12c, DW_SMLAD(r2[1], w01c, s1));
            }
            o[0] = s0;
            o[1] = s1;
        }
#endif
        if (ow & 1) {  /* an odd last output: its columns x * stride_w .. + 2 (+ 3 read, inside the plane) */
            int32_t s0 = bias2;
            s0 = smlabt(r0[1], w12a, DW_SMLAD(r0[0], w01a, s0));
            s0 = smlabt(r1[1], w12b, DW_SMLAD(r1[0], w01b, s0));
            s0 = smlabt(r2[1], w12c, DW_SMLAD(r2[0], w01c, s0));
            *o = s0;
        }
    }
}

/* requantize n doubled accumulators (ek_requantize_fast's short path, see the header) to every c-th output */
static inline int32_t rq(int32_t acc, int32_t mult, int32_t e, int32_t k) {
    const int32_t t = smmulr(acc, mult);
    return ssat8_half(((t + (t >> 31)) >> e) + k);
}
static void channel_store(const int32_t *acc, int32_t n, int32_t mult, int32_t shift, const ek_conv_params *p,
                          int8_t *o, int32_t ow, int32_t c, int32_t row_stride) {
    const int32_t e = ~shift, k = 1 + 2 * p->output_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t rows = n / ow;
    if (lo == -128 && hi == 127) {
        for (int32_t r = 0; r < rows; ++r, o += row_stride) {
            int8_t *q = o;
            int32_t x = 0;
            for (; x + 2 <= ow; x += 2, q += 2 * c, acc += 2) {
                const int32_t v0 = rq(acc[0], mult, e, k), v1 = rq(acc[1], mult, e, k);
                q[0] = (int8_t)v0;
                q[c] = (int8_t)v1;
            }
            if (x < ow) {
                *q = (int8_t)rq(*acc++, mult, e, k);
            }
        }
    } else {
        for (int32_t r = 0; r < rows; ++r, o += row_stride) {
            int8_t *q = o;
            for (int32_t x = 0; x < ow; ++x, q += c) {
                *q = (int8_t)ek_clamp(rq(*acc++, mult, e, k), lo, hi);
            }
        }
    }
}

#if defined(__ARM_FEATURE_DSP)
/* The row loops of ek_dw3_row_s1 / _s2 with the requantization fused in (activation range the whole of int8),
 * and with the loop over the band's rows and a row's odd last output inside, one call per channel: the two
 * accumulators of a step never leave registers. The second pass (channel_store) cost 11 instructions per output
 * against the 5 + 1.5 of the SMMULR sequence and STRB here, and a call per row ~37 (6 outputs a row on VWW's
 * late layers). The frame (dwq_frame, copied to the stack once per channel) holds what the steps reload, all
 * registers being taken by the multiply part (r4-r7: filter rows 0 and 1 for the whole channel):
 *   void ek_dw3_chq_s1(const dwq_frame *f), ek_dw3_chq_s2: 34 (s1) / 37 (s2) instructions per 2 outputs */
typedef struct {
    int32_t bias2[2];        /* 0: the doubled bias, twice (one LDM with w01c, w12c) */
    uint32_t w01c, w12c;     /* 8: filter row 2 */
    int32_t mult, e, k, c;   /* 16: multiplier, ~shift, 1 + 2 zp, bytes between two outputs of a plane row */
    const uint32_t *end;     /* 32: (scratch) end of the current row's pairs in row 0 */
    const int16_t *row0;     /* 36: the current output row's first plane row */
    int8_t *out;             /* 40: the current output row's first output */
    int32_t rows;            /* 44: output rows left (>= 1) */
    int32_t row_step;        /* 48: bytes from one output row's plane rows to the next's (stride * pw * 2) */
    int32_t pw2;             /* 52: bytes of a plane row */
    int32_t out_step;        /* 56: bytes from one output row to the next */
    int32_t span;            /* 60: bytes of row 0 the pairs of a row step over (4 * stride * pairs) */
    int32_t odd;             /* 64: the output row has an odd last output */
    const uint32_t *wab;     /* 68: the channel's 6 weight words */
} dwq_frame;
__asm(
    "  .text\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .p2align 2\n"
    "  .type ek_dw3_chq_s1, %function\n"
    "ek_dw3_chq_s1:\n"
    "  push {r4-r11, lr}\n"
    "  sub sp, sp, #72\n"
    "  ldm r0!, {r1-r8}\n"
    "  stm sp, {r1-r8}\n"
    "  ldm r0!, {r1-r8}\n"
    "  add r9, sp, #32\n"
    "  stm r9, {r1-r8}\n"
    "  ldm r0, {r1, r2}\n"
    "  strd r1, r2, [sp, #64]\n"
    "  ldm r2, {r4, r5, r6, r7}\n"
    "10:\n"
    "  ldr r0, [sp, #36]\n"
    "  ldr lr, [sp, #52]\n"
    "  add r1, r0, lr\n"
    "  add r2, r1, lr\n"
    "  ldr r3, [sp, #40]\n"
    "  ldr r12, [sp, #60]\n"
    "  add r12, r0, r12\n"
    "  str r12, [sp, #32]\n"
    "  cmp r0, r12\n"
    "  beq 12f\n"
    "11:\n"
    "  ldm sp, {r8, r9, r10, r11}\n"
    "  ldrd r12, lr, [r2], #4\n"
    "  smlad r8, r12, r10, r8\n"
    "  smlatb r9, r12, r10, r9\n"
    "  smlabt r8, lr, r11, r8\n"
    "  smlad r9, lr, r11, r9\n"
    "  ldrd r12, lr, [r0], #4\n"
    "  smlad r8, r12, r4, r8\n"
    "  smlatb r9, r12, r4, r9\n"
    "  smlabt r8, lr, r5, r8\n"
    "  smlad r9, lr, r5, r9\n"
    "  ldrd r12, lr, [r1], #4\n"
    "  smlad r8, r12, r6, r8\n"
    "  smlatb r9, r12, r6, r9\n"
    "  smlabt r8, lr, r7, r8\n"
    "  smlad r9, lr, r7, r9\n"
    "  ldrd r10, r11, [sp, #16]\n"
    "  ldrd r12, lr, [sp, #24]\n"
    "  smmulr r8, r8, r10\n"
    "  add r8, r8, r8, asr #31\n"
    "  asr r8, r8, r11\n"
    "  add r8, r8, r12\n"
    "  ssat r8, #8, r8, asr #1\n"
    "  smmulr r9, r9, r10\n"
    "  add r9, r9, r9, asr #31\n"
    "  asr r9, r9, r11\n"
    "  add r9, r9, r12\n"
    "  ssat r9, #8, r9, asr #1\n"
    "  strb r8, [r3]\n"
    "  strb r9, [r3, lr]\n"
    "  add r3, r3, lr, lsl #1\n"
    "  ldr r8, [sp, #32]\n"
    "  cmp r0, r8\n"
    "  bne 11b\n"
    "12:\n"
    "  ldr r12, [sp, #64]\n"
    "  cmp r12, #0\n"
    "  beq 13f\n"
    "  ldr r8, [sp]\n"
    "  ldrd r12, lr, [r0]\n"
    "  smlad r8, r12, r4, r8\n"
    "  smlabt r8, lr, r5, r8\n"
    "  ldrd r12, lr, [r1]\n"
    "  smlad r8, r12, r6, r8\n"
    "  smlabt r8, lr, r7, r8\n"
    "  ldrd r10, r11, [sp, #8]\n"
    "  ldrd r12, lr, [r2]\n"
    "  smlad r8, r12, r10, r8\n"
    "  smlabt r8, lr, r11, r8\n"
    "  ldrd r10, r11, [sp, #16]\n"
    "  ldr r12, [sp, #24]\n"
    "  smmulr r8, r8, r10\n"
    "  add r8, r8, r8, asr #31\n"
    "  asr r8, r8, r11\n"
    "  add r8, r8, r12\n"
    "  ssat r8, #8, r8, asr #1\n"
    "  strb r8, [r3]\n"
    "13:\n"
    "  ldr r0, [sp, #36]\n"
    "  ldr r12, [sp, #48]\n"
    "  add r0, r0, r12\n"
    "  str r0, [sp, #36]\n"
    "  ldr r3, [sp, #40]\n"
    "  ldr r12, [sp, #56]\n"
    "  add r3, r3, r12\n"
    "  str r3, [sp, #40]\n"
    "  ldr r12, [sp, #44]\n"
    "  subs r12, r12, #1\n"
    "  str r12, [sp, #44]\n"
    "  bne 10b\n"
    "  add sp, sp, #72\n"
    "  pop {r4-r11, pc}\n"
    "  .size ek_dw3_chq_s1, . - ek_dw3_chq_s1\n"
    "  .p2align 2\n"
    "  .type ek_dw3_chq_s2, %function\n"
    "ek_dw3_chq_s2:\n"
    "  push {r4-r11, lr}\n"
    "  sub sp, sp, #72\n"
    "  ldm r0!, {r1-r8}\n"
    "  stm sp, {r1-r8}\n"
    "  ldm r0!, {r1-r8}\n"
    "  add r9, sp, #32\n"
    "  stm r9, {r1-r8}\n"
    "  ldm r0, {r1, r2}\n"
    "  strd r1, r2, [sp, #64]\n"
    "  ldm r2, {r4, r5, r6, r7}\n"
    "20:\n"
    "  ldr r0, [sp, #36]\n"
    "  ldr lr, [sp, #52]\n"
    "  add r1, r0, lr\n"
    "  add r2, r1, lr\n"
    "  ldr r3, [sp, #40]\n"
    "  ldr r12, [sp, #60]\n"
    "  add r12, r0, r12\n"
    "  str r12, [sp, #32]\n"
    "  cmp r0, r12\n"
    "  beq 22f\n"
    "21:\n"
    "  ldm sp, {r8, r9, r10, r11}\n"
    "  ldrd r12, lr, [r2], #8\n"
    "  smlad r8, r12, r10, r8\n"
    "  smlabt r8, lr, r11, r8\n"
    "  smlad r9, lr, r10, r9\n"
    "  ldr r12, [r2]\n"
    "  smlabt r9, r12, r11, r9\n"
    "  ldrd r12, lr, [r0], #8\n"
    "  smlad r8, r12, r4, r8\n"
    "  smlabt r8, lr, r5, r8\n"
    "  smlad r9, lr, r4, r9\n"
    "  ldr r12, [r0]\n"
    "  smlabt r9, r12, r5, r9\n"
    "  ldrd r12, lr, [r1], #8\n"
    "  smlad r8, r12, r6, r8\n"
    "  smlabt r8, lr, r7, r8\n"
    "  smlad r9, lr, r6, r9\n"
    "  ldr r12, [r1]\n"
    "  smlabt r9, r12, r7, r9\n"
    "  ldrd r10, r11, [sp, #16]\n"
    "  ldrd r12, lr, [sp, #24]\n"
    "  smmulr r8, r8, r10\n"
    "  add r8, r8, r8, asr #31\n"
    "  asr r8, r8, r11\n"
    "  add r8, r8, r12\n"
    "  ssat r8, #8, r8, asr #1\n"
    "  smmulr r9, r9, r10\n"
    "  add r9, r9, r9, asr #31\n"
    "  asr r9, r9, r11\n"
    "  add r9, r9, r12\n"
    "  ssat r9, #8, r9, asr #1\n"
    "  strb r8, [r3]\n"
    "  strb r9, [r3, lr]\n"
    "  add r3, r3, lr, lsl #1\n"
    "  ldr r8, [sp, #32]\n"
    "  cmp r0, r8\n"
    "  bne 21b\n"
    "22:\n"
    "  ldr r12, [sp, #64]\n"
    "  cmp r12, #0\n"
    "  beq 23f\n"
    "  ldr r8, [sp]\n"
    "  ldrd r12, lr, [r0]\n"
    "  smlad r8, r12, r4, r8\n"
    "  smlabt r8, lr, r5, r8\n"
    "  ldrd r12, lr, [r1]\n"
    "  smlad r8, r12, r6, r8\n"
    "  smlabt r8, lr, r7, r8\n"
    "  ldrd r10, r11, [sp, #8]\n"
    "  ldrd r12, lr, [r2]\n"
    "  smlad r8, r12, r10, r8\n"
    "  smlabt r8, lr, r11, r8\n"
    "  ldrd r10, r11, [sp, #16]\n"
    "  ldr r12, [sp, #24]\n"
    "  smmulr r8, r8, r10\n"
    "  add r8, r8, r8, asr #31\n"
    "  asr r8, r8, r11\n"
    "  add r8, r8, r12\n"
    "  ssat r8, #8, r8, asr #1\n"
    "  strb r8, [r3]\n"
    "23:\n"
    "  ldr r0, [sp, #36]\n"
    "  ldr r12, [sp, #48]\n"
    "  add r0, r0, r12\n"
    "  str r0, [sp, #36]\n"
    "  ldr r3, [sp, #40]\n"
    "  ldr r12, [sp, #56]\n"
    "  add r3, r3, r12\n"
    "  str r3, [sp, #40]\n"
    "  ldr r12, [sp, #44]\n"
    "  subs r12, r12, #1\n"
    "  str r12, [sp, #44]\n"
    "  bne 20b\n"
    "  add sp, sp, #72\n"
    "  pop {r4-r11, pc}\n"
    "  .size ek_dw3_chq_s2, . - ek_dw3_chq_s2\n"
);
void ek_dw3_chq_s1(const dwq_frame *f);
void ek_dw3_chq_s2(const dwq_frame *f);

/* the fields of a layer's frame common to all its channels */
static void fused_frame(const dw_geom *g, int32_t band, int32_t zp, dwq_frame *f) {
    const int32_t pw = plane_w(g);
    f->k = 1 + 2 * zp;
    f->c = g->out_sx;
    f->rows = band;
    f->row_step = g->sh * pw * 2;
    f->pw2 = pw * 2;
    f->out_step = g->out_sy;
    f->span = 4 * g->sw * (g->out_w / 2);
    f->odd = g->out_w & 1;
}

/* one channel, fused (see above): `band` output rows from its plane pl straight to the int8 output o */
static void channel_fused(const dw_geom *g, dwq_frame *f, const int16_t *pl, const uint32_t *w, int32_t bias2,
                          int32_t band, int32_t mult, int32_t shift, int8_t *o) {
    f->bias2[0] = f->bias2[1] = bias2;
    f->w01c = w[4];
    f->w12c = w[5];
    f->mult = mult;
    f->e = ~shift;
    f->row0 = pl;
    f->out = o;
    f->rows = band;
    f->wab = w;
    __asm volatile("" ::: "memory");  /* the frame is complete before the asm reads it */
    if (g->sw == 1) {
        ek_dw3_chq_s1(f);
    } else {
        ek_dw3_chq_s2(f);
    }
}
#endif

/* a channel the short path does not cover: each output summed (not doubled) and requantized exactly */
static void channel_exact(const ek_conv_params *p, const dw_geom *g, const int16_t *pl, const uint32_t *w,
                          int32_t bias, int32_t band, int32_t ch, int8_t *o) {
    const int32_t pw = plane_w(g), c = g->out_sx, row_stride = g->out_sy;
    int32_t wt[9];
    for (int32_t r = 0; r < 3; ++r) {
        wt[3 * r] = (int16_t)(w[2 * r] & 0xFFFFu) / 2;
        wt[3 * r + 1] = (int16_t)(w[2 * r] >> 16) / 2;
        wt[3 * r + 2] = (int16_t)(w[2 * r + 1] >> 16) / 2;
    }
    for (int32_t r = 0; r < band; ++r, o += row_stride) {
        for (int32_t x = 0; x < g->out_w; ++x) {
            uint32_t s = (uint32_t)bias;
            for (int32_t fy = 0; fy < 3; ++fy) {
                const int16_t *q = pl + (r * g->sh + fy) * pw + x * g->sw;
                for (int32_t fx = 0; fx < 3; ++fx) {
                    s += (uint32_t)(wt[3 * fy + fx] * q[fx]);
                }
            }
            const int32_t v = ek_requantize((int32_t)s, p->multiplier[ch], p->shift[ch]) + p->output_offset;
            o[x * c] = (int8_t)ek_clamp(v, p->act_min, p->act_max);
        }
    }
}

static void plane_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    const dw_geom g = geom(p);
    const int32_t pw = plane_w(&g), band_max = plane_band(&g), rows_max = plane_rows(&g, band_max);
    const int32_t plane = rows_max * pw, c = p->output.c;
    int16_t *planes = (int16_t *)scratch;
    int32_t *acc = (int32_t *)(void *)(planes + EK_DW_GROUP * plane);
    const uint32_t *weights = (const uint32_t *)(const void *)p->weights;
    const int full = p->act_min == -128 && p->act_max == 127;  /* SSAT is the clamp: the fused path */
    (void)full;
    fill_planes(EK_DW_GROUP * plane, (int16_t)(-p->input_offset), planes);
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + b * p->input.h * p->input.w * c;
        int8_t *out_b = output + b * p->output.h * p->output.w * c;
        for (int32_t oy = 0; oy < g.out_h; oy += band_max) {
            const int32_t band = g.out_h - oy < band_max ? g.out_h - oy : band_max, rows = plane_rows(&g, band);
#if defined(__ARM_FEATURE_DSP)
            dwq_frame frame;
            fused_frame(&g, band, p->output_offset, &frame);
#endif
            for (int32_t c0 = 0; c0 < c; c0 += EK_DW_GROUP) {
                transpose_band(p, &g, in_b + c0, oy * g.sh - g.pad_top, rows, plane, planes, band_max < g.out_h);
                for (int32_t k = 0; k < EK_DW_GROUP; ++k) {
                    const int32_t ch = c0 + k;
                    const uint32_t *w = weights + 6 * ch;
                    const int16_t *pl = planes + k * plane;
                    int8_t *o = out_b + oy * g.out_sy + ch;
                    const int32_t bias = p->bias[ch], shift = p->shift[ch];
                    /* |acc| <= |bias| + 9 * 128 * 128 < 2^30: the doubled sums fit, the short path applies */
                    if (shift < 0 && bias > -(1 << 29) && bias < (1 << 29)) {
#if defined(__ARM_FEATURE_DSP)
                        if (full) {
                            channel_fused(&g, &frame, pl, w, 2 * bias, band, p->multiplier[ch], shift, o);
                            continue;
                        }
#endif
                        channel_acc(&g, pl, w, 2 * bias, band, acc);
                        channel_store(acc, band * g.out_w, p->multiplier[ch], shift, p, o, g.out_w, g.out_sx,
                                      g.out_sy);
                    } else {
                        channel_exact(p, &g, pl, w, bias, band, ch, o);
                    }
                }
            }
        }
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
    if (plane_applies(p)) {
        plane_eval(p, input, output, scratch);
        return EK_OK;
    }
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
