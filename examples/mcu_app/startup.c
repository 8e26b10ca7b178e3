/* Minimal Cortex-M4 start-up for the STM32L475VG: the vector table at the start of flash (0x08000000), .data
 * copied, .bss zeroed, the FPU enabled, then main(). The application owns everything else. */
#include <stdint.h>

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int main(void);
void app_stop(uint32_t code);  /* main.c: report `code` and stop */

void reset_handler(void) {
    for (uint32_t *src = _sidata, *dst = _sdata; dst < _edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = _sbss; dst < _ebss;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    /* CP10/CP11 full access before any floating-point instruction (built with -mfloat-abi=hard) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n isb" ::: "memory");
#endif
    app_stop((uint32_t)main());
}

static void default_handler(void) {
    app_stop(0x70);  /* a fault or an unexpected exception */
}

typedef void (*vector)(void);

/* the 16 Cortex-M exceptions; the application enables no peripheral interrupt */
__attribute__((section(".isr_vector"), used)) const vector vectors[16] = {
    (vector)(uintptr_t)_estack,
    reset_handler,
    default_handler,  /* NMI */
    default_handler,  /* HardFault */
    default_handler,  /* MemManage */
    default_handler,  /* BusFault */
    default_handler,  /* UsageFault */
    0, 0, 0, 0,
    default_handler,  /* SVCall */
    default_handler,  /* DebugMonitor */
    0,
    default_handler,  /* PendSV */
    default_handler,  /* SysTick */
};
