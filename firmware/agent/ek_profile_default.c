/* Weak stand-ins for the profiling half of ek_model.h, for a model.c without it (a hand-written stand-in, one
 * generated before profiling): no kernel calls to time, and a profiled RUN answers EK_E_NO_PROFILE. A generated
 * model.c defines all three, and the linker takes its definitions. They live in their own file: in ek_agent.c the
 * compiler would fold the weak constant 0 into the agent's bounds check. */
#include "ek_model.h"

__attribute__((weak)) const uint32_t ek_model_calls = 0;
__attribute__((weak)) uint32_t ek_model_profile[1];

__attribute__((weak)) ek_status ek_model_eval_profiled(ek_profile_mark_fn mark) {
    (void)mark;
    return EK_E_NO_PROFILE;
}
