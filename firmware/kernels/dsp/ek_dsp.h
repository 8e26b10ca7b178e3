/* SIMD helpers for cores with the DSP extension (Cortex-M4/M7/M33/M55): two 16-bit MACs per SMLAD.
 * Inline asm rather than ACLE so SXTB16 can take its free ROR #8 (gcc emits a separate ROR otherwise).
 * Private to the DSP kernels of this folder (#include "ek_dsp.h" finds it next to them). */
#ifndef EK_DSP_H
#define EK_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP)

/* (sext(x[7:0]), sext(x[23:16])) as two int16 lanes */
static inline uint32_t ek_sxtb16(uint32_t x) {
    uint32_t r;
    __asm("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}

/* (sext(x[15:8]), sext(x[31:24])) */
static inline uint32_t ek_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* acc + a.lo * b.lo + a.hi * b.hi */
static inline int32_t ek_smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* two words from *p (4-byte aligned), then *p += 8: one LDRD with post-increment */
typedef struct {
    uint32_t words[2];
} ek_two_words;

static inline void ek_load2_post(const void **p, uint32_t *a, uint32_t *b) {
    const void *q = *p;
    __asm("ldrd %0, %1, [%2], #8" : "=r"(*a), "=r"(*b), "+r"(q) : "m"(*(const ek_two_words *)q));
    *p = q;
}

/* lane-wise 16-bit add */
static inline uint32_t ek_sadd16(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

#endif

/* 4 bytes from any address (Cortex-M4/M7 LDR handles unaligned words; memcpy keeps C defined) */
static inline uint32_t ek_load_u32(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, sizeof v);  /* a builtin even under -ffreestanding: one LDR */
    return v;
}

#endif
