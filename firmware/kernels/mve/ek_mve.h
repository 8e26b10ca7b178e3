/* Private helpers of the MVE (Helium) kernels (kernels/mve/, Armv8.1-M cores with MVE: the Cortex-M55/M85).
 *
 * EK_MVE is 1 where the compiler targets MVE integer (-mcpu=cortex-m55); elsewhere (a host build of the kernel
 * folders, a core without MVE) every MVE kernel runs the reference kernel, which reads the same weights (the MVE
 * kernels take the reference weight order) with no scratch, so the generated model.c stays correct.
 *
 * ek_mve_requantize is ek_requantize (ek_fixedpoint.h) on 4 lanes, bit for bit:
 * - x << left: VSHL by a register shifts left and wraps like the reference's unsigned shift;
 * - SaturatingRoundingDoublingHighMul(x, m) = floor((x * m + 2^30) / 2^31) (see ek_fixedpoint.h) =
 *   floor((2 x m + 2^31) / 2^32), which is VQRDMULH, saturation (INT32_MIN * INT32_MIN) included;
 * - RoundingDivideByPOT(t, e) rounds half away from zero; VRSHL by -e rounds half up, (t + 2^(e-1)) >> e
 *   computed without overflow. For t < 0 and e > 0 the two agree on t - 1 (a tie moves down, nothing else
 *   changes): u = t - 1 for those lanes, saturating (t = INT32_MIN stays, which rounds to the same value). */
#ifndef EK_MVE_H
#define EK_MVE_H

#include <stdint.h>

/* The packed weight order of the MVE conv and FC kernels (ek_mve_pack_rows): rows (output channels) in groups of
 * 4, the last group completed with zero rows; each row's depth padded with zeros to a multiple of 16; per group,
 * per 16-byte chunk, the 4 rows' chunks one after another, so one pointer walks a group with post-increment. */
#define EK_MVE_DEPTH_PAD(depth) (((depth) + 15) / 16 * 16)
#define EK_MVE_ROWS_PAD(rows) (((rows) + 3) / 4 * 4)

static inline void ek_mve_pack_rows(const int8_t *src, int32_t rows, int32_t depth, int8_t *dst) {
    const int32_t dp = EK_MVE_DEPTH_PAD(depth), rp = EK_MVE_ROWS_PAD(rows);
    for (int32_t g = 0; g < rp; g += 4) {
        for (int32_t j = 0; j < dp; j += 16) {
            for (int32_t r = g; r < g + 4; ++r) {
                for (int32_t b = j; b < j + 16; ++b) {
                    *dst++ = r < rows && b < depth ? src[r * depth + b] : 0;
                }
            }
        }
    }
}

/* weight (row r, k) in that order (the scalar path of a build without MVE) */
static inline int32_t ek_mve_packed_at(const int8_t *w, int32_t depth, int32_t r, int32_t k) {
    return w[((r / 4) * (EK_MVE_DEPTH_PAD(depth) / 16) + k / 16) * 64 + (r % 4) * 16 + k % 16];
}

/* bias + input_offset * the sum of each row's weights, in wrapping int32 arithmetic (the MVE kernels' bias) */
static inline void ek_mve_fold_bias(const int8_t *src, int32_t rows, int32_t depth, int32_t input_offset,
                                    const int32_t *bias, int32_t *dst_bias) {
    for (int32_t r = 0; r < rows; ++r) {
        uint32_t sum = 0;
        for (int32_t k = 0; k < depth; ++k) {
            sum += (uint32_t)(int32_t)src[r * depth + k];
        }
        dst_bias[r] = (int32_t)((bias != NULL ? (uint32_t)bias[r] : 0u) + (uint32_t)input_offset * sum);
    }
}

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define EK_MVE 1
#include <arm_mve.h>

/* acc: int32 accumulators (bias included); mult, shift: the lanes' per-channel multiplier and shift. */
static inline int32x4_t ek_mve_requantize(int32x4_t acc, int32x4_t mult, int32x4_t shift) {
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t left = vmaxq_s32(shift, zero);
    const int32x4_t right = vminq_s32(shift, zero);             /* -e, <= 0 */
    const int32x4_t t = vqrdmulhq_s32(vshlq_s32(acc, left), mult);
    /* -1 where t < 0 and e > 0, else 0 */
    const int32x4_t neg = vandq_s32(vshrq_n_s32(t, 31), vshrq_n_s32(right, 31));
    return vrshlq_s32(vqaddq_s32(t, neg), right);
}

/* requantize, add the output offset, clamp and store the low byte of the first `lanes` (1..4) lanes */
static inline void ek_mve_store4(int8_t *out, int32x4_t acc, const int32_t *mult, const int32_t *shift,
                                 int32_t lanes, int32_t output_offset, int32_t act_min, int32_t act_max) {
    const mve_pred16_t pr = vctp32q((uint32_t)lanes);
    int32x4_t v = ek_mve_requantize(acc, vldrwq_z_s32(mult, pr), vldrwq_z_s32(shift, pr));
    v = vaddq_n_s32(v, output_offset);
    v = vmaxq_s32(v, vdupq_n_s32(act_min));
    v = vminq_s32(v, vdupq_n_s32(act_max));
    vstrbq_p_s32(out, v, pr);
}
/* the same for 4 full lanes, the output offset and activation range as vectors (loaded once by the caller) */
static inline void ek_mve_store4_full(int8_t *out, int32x4_t acc, const int32_t *mult, const int32_t *shift,
                                      int32x4_t output_offset, int32x4_t act_min, int32x4_t act_max) {
    int32x4_t v = ek_mve_requantize(acc, vldrwq_s32(mult), vldrwq_s32(shift));
    v = vaddq_s32(v, output_offset);
    v = vmaxq_s32(v, act_min);
    v = vminq_s32(v, act_max);
    vstrbq_s32(out, v);
}
#else
#define EK_MVE 0
#endif

#endif
