/* FULLY_CONNECTED int8 for cores with MVE (Helium), bit-exact with kernels/reference/ek_fully_connected_s8.c; no
 * scratch.
 *
 * Weights in the packed order of ek_mve.h (ek_fully_connected_s8_mve_pack, mirrored by
 * edgekit/export/mcu/kernels.py): rows in groups of 4, each padded with zeros to a multiple of 16, per group the
 * 4 rows' 16-byte chunks one after another. The bias is folded: sum((x + input_offset) * w) = sum(x * w) +
 * input_offset * sum(w) in wrapping int32 alike, so the host adds input_offset * the sum of each row's weights to
 * its bias. Four outputs at a time: each 16-byte piece of the input row is loaded once (the last one predicated,
 * zeroing the lanes past the row) with the group's 4 weight chunks (one pointer, post-increment), and 4 VMLADAVA
 * accumulate 4 scalar sums (64 MACs per 9 instructions, a low-overhead loop). The four sums are requantized
 * together on 4 lanes (ek_mve_requantize, ek_mve.h) and stored with one VSTRB; a last group of fewer than 4
 * outputs is predicated (its rows are zeros). */
#include "ek_fixedpoint.h"
#include "ek_kernels.h"
#include "ek_mve.h"

void ek_fully_connected_s8_mve_pack(const ek_fc_params *p, const int8_t *src, const int32_t *bias, int8_t *dst,
                                    int32_t *dst_bias) {
    ek_mve_pack_rows(src, p->out_features, p->in_features, dst);
    ek_mve_fold_bias(src, p->out_features, p->in_features, p->input_offset, bias, dst_bias);
}

int32_t ek_fully_connected_s8_mve_scratch_bytes(const ek_fc_params *p) {
    return ek_fully_connected_s8_scratch_bytes(p);
}

ek_status ek_fully_connected_s8_mve_prepare(const ek_fc_params *p, size_t scratch_bytes) {
    const ek_status st = ek_fully_connected_s8_prepare(p, scratch_bytes);
    if (st != EK_OK) {
        return st;
    }
    return p->bias == NULL ? EK_E_BAD_PARAMS : EK_OK;  /* the folded bias is always there */
}

ek_status ek_fully_connected_s8_mve_eval(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t depth = p->in_features, outs = p->out_features;
#if EK_MVE
    const int32_t full = depth / 16, rest = depth % 16;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * depth;
        int8_t *out = output + b * outs;
        const int8_t *w = p->weights;
        for (int32_t o = 0; o < outs; o += 4) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int32_t j = 0; j < full; ++j) {
                const int8x16_t xv = vldrbq_s8(x + 16 * j);
                const int8x16_t w0 = vldrbq_s8(w), w1 = vldrbq_s8(w + 16), w2 = vldrbq_s8(w + 32),
                                w3 = vldrbq_s8(w + 48);
                w += 64;
                a0 = vmladavaq_s8(a0, xv, w0);
                a1 = vmladavaq_s8(a1, xv, w1);
                a2 = vmladavaq_s8(a2, xv, w2);
                a3 = vmladavaq_s8(a3, xv, w3);
            }
            if (rest) {  /* zeros past the row: the padded weights are zeros too */
                const int8x16_t xv = vldrbq_z_s8(x + 16 * full, vctp8q((uint32_t)rest));
                a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w));
                a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w + 16));
                a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w + 32));
                a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w + 48));
                w += 64;
            }
            int32x4_t acc = vdupq_n_s32(a0);
            acc = vsetq_lane_s32(a1, acc, 1);
            acc = vsetq_lane_s32(a2, acc, 2);
            acc = vsetq_lane_s32(a3, acc, 3);
            const int32_t lanes = outs - o < 4 ? outs - o : 4;
            acc = vaddq_s32(acc, vldrwq_z_s32(p->bias + o, vctp32q((uint32_t)lanes)));
            ek_mve_store4(out + o, acc, p->multiplier + o, p->shift + o, lanes, p->output_offset, p->act_min,
                          p->act_max);
        }
    }
#else
    for (int32_t b = 0; b < p->batches; ++b) {  /* no MVE (a host build): the same arithmetic, scalar */
        for (int32_t o = 0; o < outs; ++o) {
            uint32_t acc = (uint32_t)p->bias[o];
            for (int32_t k = 0; k < depth; ++k) {
                acc += (uint32_t)(ek_mve_packed_at(p->weights, depth, o, k) * input[b * depth + k]);
            }
            const int32_t v = ek_requantize((int32_t)acc, p->multiplier[o], p->shift[o]) + p->output_offset;
            output[b * outs + o] = (int8_t)ek_clamp(v, p->act_min, p->act_max);
        }
    }
#endif
    return EK_OK;
}
