/* GATHER and EMBEDDING_LOOKUP int8 with int32 indices, reference: TFLite Micro's gather.cc / embedding_lookup.cc
 * (rows copied byte for byte; the host maps EMBEDDING_LOOKUP to one outer step along axis 0). */
#include <string.h>

#include "ek_kernels.h"

ek_status ek_gather_s8_prepare(const ek_gather_params *p, size_t scratch_bytes) {
    if (p->batches <= 0 || p->outer <= 0 || p->axis_size <= 0 || p->coords < 0 || p->inner < 0) {
        return EK_E_BAD_PARAMS;
    }
    if (scratch_bytes < (size_t)ek_gather_s8_scratch_bytes(p)) {
        return EK_E_SCRATCH;
    }
    return EK_OK;
}

int32_t ek_gather_s8_scratch_bytes(const ek_gather_params *p) {
    (void)p;
    return 0;
}

ek_status ek_gather_s8_eval(const ek_gather_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                            void *scratch) {
    (void)scratch;
    const int32_t inner = p->inner;
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t o = 0; o < p->outer; ++o) {
            const int8_t *rows = input1 + (b * p->outer + o) * p->axis_size * inner;
            for (int32_t k = 0; k < p->coords; ++k) {
                int32_t index;
                memcpy(&index, input2 + 4 * (b * p->coords + k), sizeof index);  /* any alignment */
                if (index < 0 || index >= p->axis_size) {
                    return EK_E_BAD_ARG;
                }
                memcpy(output, rows + index * inner, (size_t)inner);
                output += inner;
            }
        }
    }
    return EK_OK;
}
