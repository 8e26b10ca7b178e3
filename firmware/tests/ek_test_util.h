/* What the kernel test images share (ek_kernel_test.c, ek_mve_kernel_test.c): a xorshift32 generator seeded with
 * EK_TEST_SEED (each image its own, so their random cases differ) and decimal printing on the UART. */
#ifndef EK_TEST_UTIL_H
#define EK_TEST_UTIL_H

#include <stdint.h>
#include <string.h>

#include "ek_port.h"

#ifndef EK_TEST_SEED
#error "define EK_TEST_SEED before including ek_test_util.h"
#endif

static uint32_t rng = EK_TEST_SEED;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static int32_t uniform(int32_t lo, int32_t hi) { return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1)); }
static void fill(int8_t *p, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        p[i] = (int8_t)next();
    }
}

static void put(const char *s) { ek_port_write((const uint8_t *)s, strlen(s)); }
static void put_int(int64_t v) {
    char buf[24];
    int i = sizeof buf;
    uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    buf[--i] = 0;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        buf[--i] = '-';
    }
    put(buf + i);
}

#endif
