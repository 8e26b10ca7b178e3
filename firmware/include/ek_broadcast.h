/* The loops of the binary element-wise kernels (ADD, SUB, MUL) over an ek_binary_shape: flat when the shapes are
 * equal, else four nested loops with per-input strides (0 where an input broadcasts). The innermost dimension is
 * the longest run the host could merge, so the per-element cost is the same as the flat loop's. */
#ifndef EK_BROADCAST_H
#define EK_BROADCAST_H

#include "ek_kernels.h"

static inline int ek_binary_shape_valid(const ek_binary_shape *s) {
    if (!s->broadcast) {
        return s->size > 0;
    }
    int32_t n = 1;
    for (int32_t k = 0; k < 4; ++k) {
        if (s->shape[k] <= 0 || s->stride1[k] < 0 || s->stride2[k] < 0) {
            return 0;
        }
        n *= s->shape[k];
    }
    return n == s->size;
}

/* out[i] = ELEMENT(p, a, b) over the index space; ELEMENT is a static inline function of the kernel's file. */
#define EK_BINARY_LOOP(S, P, IN1, IN2, OUT, ELEMENT)                                                          \
    do {                                                                                                      \
        const ek_binary_shape *s_ = (S);                                                                      \
        if (!s_->broadcast) {                                                                                 \
            for (int32_t i_ = 0; i_ < s_->size; ++i_) {                                                       \
                (OUT)[i_] = ELEMENT((P), (IN1)[i_], (IN2)[i_]);                                               \
            }                                                                                                 \
            break;                                                                                            \
        }                                                                                                     \
        int8_t *o_ = (OUT);                                                                                   \
        const int32_t n3_ = s_->shape[3], a3_ = s_->stride1[3], b3_ = s_->stride2[3];                         \
        for (int32_t i0_ = 0; i0_ < s_->shape[0]; ++i0_) {                                                    \
            for (int32_t i1_ = 0; i1_ < s_->shape[1]; ++i1_) {                                                \
                for (int32_t i2_ = 0; i2_ < s_->shape[2]; ++i2_) {                                            \
                    const int8_t *a_ = (IN1) + i0_ * s_->stride1[0] + i1_ * s_->stride1[1] + i2_ * s_->stride1[2]; \
                    const int8_t *b_ = (IN2) + i0_ * s_->stride2[0] + i1_ * s_->stride2[1] + i2_ * s_->stride2[2]; \
                    for (int32_t i3_ = 0; i3_ < n3_; ++i3_) {                                                 \
                        *o_++ = ELEMENT((P), a_[i3_ * a3_], b_[i3_ * b3_]);                                   \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    } while (0)

#endif
