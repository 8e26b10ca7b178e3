/* The interface a generated model (edgekit/export/mcu/codegen.py -> model.c) implements for the agent. */
#ifndef EK_MODEL_H
#define EK_MODEL_H

#include <stdint.h>

#include "ek_status.h"

/* Where one input or output tensor lives: `bytes` bytes at `offset` in ek_arena. */
typedef struct { uint32_t offset, bytes; } ek_tensor_place;   /* in ek_arena */

typedef struct {
    uint32_t model_id;        /* first 4 bytes of the .tflite's sha256, big endian */
    uint32_t arena_bytes;     /* planned by the host */
    uint32_t num_inputs, num_outputs;
    const ek_tensor_place *inputs, *outputs;   /* num_inputs / num_outputs entries, in the .tflite's order */
    uint32_t input_bytes, output_bytes;        /* totals over all inputs / outputs */
} ek_model_info;

extern const ek_model_info ek_model;
extern int8_t ek_arena[];

ek_status ek_model_prepare(void);  /* validate every kernel's parameters and scratch (once, at boot) */
ek_status ek_model_eval(void);     /* one inference: inputs and outputs live in ek_arena at the places above */

#endif
