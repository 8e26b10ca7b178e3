/* Cortex-M start-up shared by every port: vector table, .data/.bss set-up, FPU enable, then main().
 * Symbols come from firmware/ld/ek_sections.ld. A port whose UART receives by interrupt names its IRQ number
 * (EK_UART_IRQ, from the profile): the table then reaches that entry, and every device IRQ before it faults. */
#include <stdint.h>

#include "ek_port.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
extern int main(void);
void ek_systick_handler(void);
void ek_port_uart_irq(void);

#define FAULT_HARD 0x70
#define FAULT_OTHER 0x71

void ek_reset_handler(void) {
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    /* the build targets an FPU (hard/softfp ABI): grant CP10/CP11 full access before any float instruction */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm volatile("dsb\n isb" ::: "memory");
#endif
    main();
    ek_port_fault(0);
}

static void hard_fault(void) { ek_port_fault(FAULT_HARD); }
static void other_fault(void) { ek_port_fault(FAULT_OTHER); }

typedef void (*ek_vector)(void);

#if defined(EK_UART_IRQ)
#define EK_VECTORS (16 + EK_UART_IRQ + 1)
#else
#define EK_VECTORS 16
#endif

__attribute__((section(".isr_vector"), used)) const ek_vector ek_vectors[EK_VECTORS] = {
    (ek_vector)(uintptr_t)__stack_top,
    ek_reset_handler,
    other_fault,  /* NMI */
    hard_fault,
    other_fault,  /* MemManage */
    other_fault,  /* BusFault */
    other_fault,  /* UsageFault */
    0, 0, 0, 0,
    other_fault,  /* SVCall */
    other_fault,  /* DebugMonitor */
    0,
    other_fault,  /* PendSV */
    ek_systick_handler,
#if defined(EK_UART_IRQ)
#if EK_UART_IRQ > 0
    [16 ... 16 + EK_UART_IRQ - 1] = other_fault,
#endif
    [16 + EK_UART_IRQ] = ek_port_uart_irq,
#endif
};
