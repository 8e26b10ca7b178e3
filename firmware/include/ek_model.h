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

/* Per-kernel-call profiling (RUN with EK_RUN_PROFILE, then PROFILE). ek_model_eval_profiled makes the same kernel
 * calls as ek_model_eval and calls mark(EK_PROFILE_START) before the first and mark(k) after call k (k = 0 ..
 * ek_model_calls - 1); the agent's mark reads its clock and writes the time since the previous mark into
 * ek_model_profile[k]. The table is sized by the code generator (the calls of an inference are known there), so
 * profiling allocates nothing. A model.c without them (a hand-written stand-in) links against the agent's weak
 * defaults: no calls, and a profiled RUN answers EK_E_NO_PROFILE. */
#define EK_PROFILE_START 0xFFFFFFFFu
typedef void (*ek_profile_mark_fn)(uint32_t call);
extern const uint32_t ek_model_calls;   /* kernel calls per inference */
extern uint32_t ek_model_profile[];     /* max(ek_model_calls, 1) entries */
ek_status ek_model_eval_profiled(ek_profile_mark_fn mark);

#endif
