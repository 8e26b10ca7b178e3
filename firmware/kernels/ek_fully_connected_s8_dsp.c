/* FULLY_CONNECTED int8, optimised for the DSP extension; bit-exact with ek_fully_connected_s8_ref.
 *
 * The input (plus its offset) is widened once into scratch as int16 pairs in SXTB16 order ((x0,x2),(x1,x3) per
 * group of 4), so each weight word needs two SXTB16 and feeds two SMLADs. Four output rows share each column
 * load. Integer sums are the reference's exactly: same products, same int32 accumulation (wrapping alike). */
#include "ek_dsp.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

int32_t ek_fully_connected_s8_dsp_scratch_bytes(const ek_fc_params *p) {
    return (p->in_features / 4) * 4 * 2;
}

#if defined(__ARM_FEATURE_DSP)

static inline int8_t finish(const ek_fc_params *p, int32_t acc, int32_t o) {
    if (p->bias != NULL) {
        acc += p->bias[o];
    }
    acc = ek_requantize(acc, p->multiplier[o], p->shift[o]) + p->output_offset;
    return (int8_t)ek_clamp(acc, p->act_min, p->act_max);
}

ek_status ek_fully_connected_s8_dsp(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch) {
    const int32_t depth = p->in_features, groups = depth / 4, out_n = p->out_features;
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
        int32_t o = 0;
        for (; o + 4 <= out_n; o += 4) {
            const int8_t *w0 = p->weights + o * depth, *w1 = w0 + depth, *w2 = w1 + depth, *w3 = w2 + depth;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            const uint32_t *c = col;
            for (int32_t g = 0; g < groups; ++g) {
                const uint32_t c0 = c[0], c1 = c[1];
                c += 2;
                uint32_t w = ek_load_u32(w0);
                w0 += 4;
                a0 = ek_smlad(ek_sxtb16(w), c0, a0);
                a0 = ek_smlad(ek_sxtb16_ror8(w), c1, a0);
                w = ek_load_u32(w1);
                w1 += 4;
                a1 = ek_smlad(ek_sxtb16(w), c0, a1);
                a1 = ek_smlad(ek_sxtb16_ror8(w), c1, a1);
                w = ek_load_u32(w2);
                w2 += 4;
                a2 = ek_smlad(ek_sxtb16(w), c0, a2);
                a2 = ek_smlad(ek_sxtb16_ror8(w), c1, a2);
                w = ek_load_u32(w3);
                w3 += 4;
                a3 = ek_smlad(ek_sxtb16(w), c0, a3);
                a3 = ek_smlad(ek_sxtb16_ror8(w), c1, a3);
            }
            for (int32_t d = groups * 4; d < depth; ++d) {  /* tail: fewer than 4 features */
                const int32_t xv = x[d] + p->input_offset;
                a0 += *w0++ * xv;
                a1 += *w1++ * xv;
                a2 += *w2++ * xv;
                a3 += *w3++ * xv;
            }
            y[o] = finish(p, a0, o);
            y[o + 1] = finish(p, a1, o + 1);
            y[o + 2] = finish(p, a2, o + 2);
            y[o + 3] = finish(p, a3, o + 3);
        }
        for (; o < out_n; ++o) {  /* remaining rows one at a time */
            const int8_t *w0 = p->weights + o * depth;
            int32_t a0 = 0;
            for (int32_t g = 0; g < groups; ++g) {
                const uint32_t w = ek_load_u32(w0 + 4 * g);
                a0 = ek_smlad(ek_sxtb16(w), col[2 * g], a0);
                a0 = ek_smlad(ek_sxtb16_ror8(w), col[2 * g + 1], a0);
            }
            for (int32_t d = groups * 4; d < depth; ++d) {
                a0 += w0[d] * (x[d] + p->input_offset);
            }
            y[o] = finish(p, a0, o);
        }
    }
    return EK_OK;
}

#else

ek_status ek_fully_connected_s8_dsp(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch) {
    return ek_fully_connected_s8_ref(p, input, output, scratch);  /* no DSP extension on this core */
}

#endif
