/* A host program that uses an edgekit C library as a user's firmware would: through edgekit_model.h alone.
 * Reads int8 input samples (EDGEKIT_MODEL_INPUT0_BYTES each) from the file argv[1] and prints, per sample, a
 * line "y <output 0 bytes in hex>". */
#include <stdio.h>
#include <string.h>

#include "edgekit_model.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SAMPLES.bin\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    if (edgekit_model_run() != EDGEKIT_E_NOT_READY) {
        fprintf(stderr, "run before init did not say EDGEKIT_E_NOT_READY\n");
        return 1;
    }
    int32_t s = edgekit_model_init();
    if (s != EDGEKIT_OK) {
        fprintf(stderr, "edgekit_model_init: %d\n", (int)s);
        return 1;
    }
    if (edgekit_model_input(EDGEKIT_MODEL_NUM_INPUTS) || edgekit_model_output(EDGEKIT_MODEL_NUM_OUTPUTS)) {
        fprintf(stderr, "an index out of range gave a buffer\n");
        return 1;
    }
    const int32_t shape[] = EDGEKIT_MODEL_OUTPUT0_SHAPE;
    printf("info arena=%u inputs=%u outputs=%u in_bytes=%u out_bytes=%u out_rank=%u out_last=%d out_zp=%d "
           "out_scale=%.9g\n", EDGEKIT_MODEL_ARENA_BYTES, EDGEKIT_MODEL_NUM_INPUTS, EDGEKIT_MODEL_NUM_OUTPUTS,
           EDGEKIT_MODEL_INPUT0_BYTES, EDGEKIT_MODEL_OUTPUT0_BYTES, EDGEKIT_MODEL_OUTPUT0_RANK,
           (int)shape[EDGEKIT_MODEL_OUTPUT0_RANK - 1], (int)edgekit_model_outputs[0].zero_point,
           (double)edgekit_model_outputs[0].scale);
    int8_t sample[EDGEKIT_MODEL_INPUT0_BYTES];
    while (fread(sample, 1, sizeof sample, f) == sizeof sample) {
        memcpy(EDGEKIT_MODEL_INPUT0_PTR, sample, sizeof sample);
        s = edgekit_model_run();
        if (s != EDGEKIT_OK) {
            fprintf(stderr, "edgekit_model_run: %d\n", (int)s);
            return 1;
        }
        const EDGEKIT_MODEL_OUTPUT0_TYPE *out = EDGEKIT_MODEL_OUTPUT0_PTR;
        printf("y ");
        for (uint32_t i = 0; i < EDGEKIT_MODEL_OUTPUT0_BYTES; ++i) {
            printf("%02x", (unsigned)(uint8_t)out[i]);
        }
        printf("\n");
    }
    fclose(f);
    return 0;
}
