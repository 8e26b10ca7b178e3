/* FULLY_CONNECTED int8, optimised for the DSP extension; bit-exact with the reference kernel
 * (ek_fully_connected_s8_eval).
 *
 * The input (plus its offset) is widened once into scratch as int16 pairs in SXTB16 order ((x0,x2),(x1,x3) per
 * group of 4). Weights come packed (ek_fully_connected_s8_dsp_pack, mirrored on the host) so that one pointer
 * walks four rows at once: per block of 4 rows, for each group of 4 features, 4 bytes of each row in turn, then
 * each row's last in_features % 4 bytes; rows beyond a multiple of 4 stay in plain row order at the end. One
 * group of 16 MACs is then 3 LDRD, 8 SXTB16 and 8 SMLAD. Sums are the reference's exactly (same products, same
 * wrapping int32 accumulation). The packed weights are read with LDRD: 4-byte aligned (prepare checks), as is
 * the scratch (the host plans it 8-aligned). */
#include "ek_dsp.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

/* The reference kernel's rules, this kernel's scratch, and aligned packed weights. */
ek_status ek_fully_connected_s8_dsp_prepare(const ek_fc_params *p, size_t scratch_bytes) {
    const ek_status s = ek_fully_connected_s8_prepare(p, scratch_bytes);
    if (s != EK_OK) {
        return s;
    }
    if (((uintptr_t)p->weights & 3u) != 0) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_fully_connected_s8_dsp_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_fully_connected_s8_dsp_scratch_bytes(const ek_fc_params *p) {
    return (p->in_features / 4) * 4 * 2;
}

void ek_fully_connected_s8_dsp_pack(const ek_fc_params *p, const int8_t *src, int8_t *dst) {
    const int32_t depth = p->in_features, groups = depth / 4, tail = depth % 4;
    int32_t o = 0;
    for (; o + 4 <= p->out_features; o += 4) {
        for (int32_t g = 0; g < groups; ++g) {
            for (int32_t r = 0; r < 4; ++r) {
                for (int32_t i = 0; i < 4; ++i) {
                    *dst++ = src[(o + r) * depth + 4 * g + i];
                }
            }
        }
        for (int32_t r = 0; r < 4; ++r) {
            for (int32_t i = 0; i < tail; ++i) {
                *dst++ = src[(o + r) * depth + 4 * groups + i];
            }
        }
    }
    for (; o < p->out_features; ++o) {
        for (int32_t i = 0; i < depth; ++i) {
            *dst++ = src[o * depth + i];
        }
    }
}

static inline int8_t finish(const ek_fc_params *p, int32_t acc, int32_t o) {
    if (p->bias != NULL) {
        acc += p->bias[o];
    }
    acc = ek_requantize_fast(acc, p->multiplier[o], p->shift[o]) + p->output_offset;
    return (int8_t)ek_clamp(acc, p->act_min, p->act_max);
}

#if defined(__ARM_FEATURE_DSP)

ek_status ek_fully_connected_s8_dsp_eval(const ek_fc_params *p, const int8_t *input, int8_t *output,
                                         void *scratch) {
    const int32_t depth = p->in_features, groups = depth / 4, tail = depth % 4, out_n = p->out_features;
    const uint32_t offset2 = ((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16);
    uint32_t *col = (uint32_t *)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * depth;
        int8_t *y = output + b * out_n;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t w = ek_load_u32(x + 4 * g);
            col[2 * g] = ek_sadd16(ek_sxtb16(w), offset2);
            col[2 * g + 1] = ek_sadd16(ek_sxtb16_ror8(w), offset2);
        }
        __asm volatile("" ::: "memory");  /* the column is complete before the asm loads read it */
        const int8_t *w = p->weights;
        int32_t o = 0;
        for (; o + 4 <= out_n; o += 4) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            const void *wp = w, *cp = col;
#pragma GCC unroll 2
            for (int32_t g = groups; g > 0; --g) {
                uint32_t c0, c1, u, v;
                ek_load2_post(&cp, &c0, &c1);
                ek_load2_post(&wp, &u, &v);
                a0 = ek_smlad(ek_sxtb16(u), c0, a0);
                a0 = ek_smlad(ek_sxtb16_ror8(u), c1, a0);
                a1 = ek_smlad(ek_sxtb16(v), c0, a1);
                a1 = ek_smlad(ek_sxtb16_ror8(v), c1, a1);
                ek_load2_post(&wp, &u, &v);
                a2 = ek_smlad(ek_sxtb16(u), c0, a2);
                a2 = ek_smlad(ek_sxtb16_ror8(u), c1, a2);
                a3 = ek_smlad(ek_sxtb16(v), c0, a3);
                a3 = ek_smlad(ek_sxtb16_ror8(v), c1, a3);
            }
            w = (const int8_t *)wp;
            for (int32_t i = 0; i < tail; ++i) {  /* the last in_features % 4, row by row */
                const int32_t xv = x[4 * groups + i] + p->input_offset;
                a0 += w[i] * xv;
                a1 += w[tail + i] * xv;
                a2 += w[2 * tail + i] * xv;
                a3 += w[3 * tail + i] * xv;
            }
            w += 4 * tail;
            y[o] = finish(p, a0, o);
            y[o + 1] = finish(p, a1, o + 1);
            y[o + 2] = finish(p, a2, o + 2);
            y[o + 3] = finish(p, a3, o + 3);
        }
        for (; o < out_n; ++o, w += depth) {  /* remaining rows, plain order */
            int32_t a0 = 0;
            for (int32_t g = 0; g < groups; ++g) {
                const uint32_t u = ek_load_u32(w + 4 * g);
                a0 = ek_smlad(ek_sxtb16(u), col[2 * g], a0);
                a0 = ek_smlad(ek_sxtb16_ror8(u), col[2 * g + 1], a0);
            }
            for (int32_t d = 4 * groups; d < depth; ++d) {
                a0 += w[d] * (x[d] + p->input_offset);
            }
            y[o] = finish(p, a0, o);
        }
    }
    return EK_OK;
}

#else

/* No DSP extension on this core: the same packed weights, plain C. */
ek_status ek_fully_connected_s8_dsp_eval(const ek_fc_params *p, const int8_t *input, int8_t *output,
                                         void *scratch) {
    (void)scratch;
    const int32_t depth = p->in_features, groups = depth / 4, tail = depth % 4;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * depth, *w = p->weights;
        int32_t o = 0;
        for (; o + 4 <= p->out_features; o += 4) {
            int32_t acc[4] = {0, 0, 0, 0};
            for (int32_t g = 0; g < groups; ++g, w += 16) {
                for (int32_t r = 0; r < 4; ++r) {
                    for (int32_t i = 0; i < 4; ++i) {
                        acc[r] += w[4 * r + i] * (x[4 * g + i] + p->input_offset);
                    }
                }
            }
            for (int32_t r = 0; r < 4; ++r, w += tail) {
                for (int32_t i = 0; i < tail; ++i) {
                    acc[r] += w[i] * (x[4 * groups + i] + p->input_offset);
                }
                output[b * p->out_features + o + r] = finish(p, acc[r], o + r);
            }
        }
        for (; o < p->out_features; ++o, w += depth) {
            int32_t acc = 0;
            for (int32_t d = 0; d < depth; ++d) {
                acc += w[d] * (x[d] + p->input_offset);
            }
            output[b * p->out_features + o] = finish(p, acc, o);
        }
    }
    return EK_OK;
}

#endif
