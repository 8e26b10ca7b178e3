/* The interface a generated model (edgekit/export/mcu/codegen.py -> model.c) implements for the agent. */
#ifndef EK_MODEL_H
#define EK_MODEL_H

#include <stdint.h>

#include "ek_status.h"

typedef struct {
    uint32_t model_id;      /* first 4 bytes of the .tflite's sha256, big endian */
    uint32_t arena_bytes;   /* planned by the host */
    uint32_t input_offset, input_bytes;
    uint32_t output_offset, output_bytes;
} ek_model_info;

extern const ek_model_info ek_model;
extern int8_t ek_arena[];

ek_status ek_model_prepare(void);  /* validate every kernel's parameters and scratch (once, at boot) */
ek_status ek_model_eval(void);     /* one inference: input and output live in ek_arena at the offsets above */

#endif
