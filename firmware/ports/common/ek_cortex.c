/* Cortex-M core facilities every port shares: the SysTick tick counter, the DWT cycle counter and the way to
 * stop. Only the core's own registers (Armv6-M / Armv7-M / Armv8-M architecture manuals) are touched here; a
 * port's UART and clock tree are in its own folder. */
#include <stdint.h>

#include "ek_cortex.h"
#include "ek_port.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

static volatile uint32_t systick_wraps;
static int cycle_counter;

void ek_systick_handler(void) {
    ++systick_wraps;
}

void ek_cortex_systick_start(void) {
    /* SysTick from the core clock, 24-bit full range, wrap interrupt counted in systick_wraps */
    SYST_CSR = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 0x7;
    while (SYST_CVR == 0) {
    }
}

uint64_t ek_cortex_systick_ticks(void) {
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << 24) + (0xFFFFFFu - value);
}

void ek_cortex_cycle_counter_start(void) {
#if !defined(__ARM_ARCH_6M__)  /* Armv6-M has no DWT cycle counter (and QEMU faults on its DWT) */
    /* DWT cycle counter where the silicon has one; QEMU implements none (reads 0), so check that it runs */
    DEMCR |= 1u << 24;  /* TRCENA */
    if ((DWT_CTRL & (1u << 25)) == 0) {  /* NOCYCCNT clear */
        DWT_CYCCNT = 0;
        DWT_CTRL |= 1u;
        const uint32_t c0 = DWT_CYCCNT;
        for (volatile int i = 0; i < 16; ++i) {
        }
        cycle_counter = DWT_CYCCNT != c0;
    }
#endif
}

uint32_t ek_port_cycles(void) {
#if defined(__ARM_ARCH_6M__)
    return 0;
#else
    return cycle_counter ? DWT_CYCCNT : 0;
#endif
}

int ek_port_has_cycle_counter(void) {
    return cycle_counter;
}

/* Received bytes, from the UART's interrupt to ek_cortex_rx_getc: one writer (the interrupt), one reader. */
static volatile uint8_t rx_ring[EK_CORTEX_RX_RING];
static volatile uint32_t rx_head, rx_tail;

void ek_cortex_rx_push(uint8_t byte) {
    const uint32_t head = rx_head;
    if (head - rx_tail < EK_CORTEX_RX_RING) {  /* full: the byte is lost and the frame's CRC says so */
        rx_ring[head % EK_CORTEX_RX_RING] = byte;
        rx_head = head + 1;
    }
}

uint8_t ek_cortex_rx_getc(void) {
    /* Sleep between bytes: the UART's interrupt (or SysTick) wakes the core. Under QEMU a halted core is also
     * what lets QEMU's main loop hand the UART its next byte at once, instead of at the next timer deadline. */
    for (;;) {
        /* Masked, a byte that lands between the check and WFI still wakes it (it pends); unmasked, it is taken. */
        __asm volatile("cpsid i" ::: "memory");
        if (rx_head != rx_tail) {
            __asm volatile("cpsie i" ::: "memory");
            break;
        }
        __asm volatile("wfi" ::: "memory");
        __asm volatile("cpsie i" ::: "memory");
    }
    const uint8_t byte = rx_ring[rx_tail % EK_CORTEX_RX_RING];
    rx_tail = rx_tail + 1;
    return byte;
}

void ek_cortex_irq_enable(uint32_t irq) {
    REG(0xE000E100u + 4u * (irq / 32u)) = 1u << (irq % 32u);  /* NVIC_ISER */
}

void ek_cortex_wait_ready(volatile uint32_t *reg, uint32_t mask, uint32_t value) {
    for (uint32_t i = 0; i < EK_CORTEX_WAIT_LIMIT; ++i) {
        if ((*reg & mask) == value) {
            return;
        }
    }
    ek_port_fault(EK_FAULT_CLOCK);
}

void ek_port_fault(uint32_t code) {
#if defined(EK_SEMIHOSTING)
    /* SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with `code` -> QEMU exits with that status */
    static volatile uint32_t block[2];
    block[0] = 0x20026;
    block[1] = code;
    register uint32_t r0 __asm("r0") = 0x20;
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
#else
    (void)code;
#endif
    for (;;) {
    }
}

void ek_cortex_caches_enable(void) {
#if defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8_1M_MAIN__)
    /* Armv7-M cache maintenance (ARM DDI 0403E, B2.2.7): invalidate the I-cache, invalidate the D-cache by set and
     * way from its geometry in CCSIDR, then turn both on in CCR. A core without caches reads CCSIDR as 0. */
    __asm volatile("dsb\n isb" ::: "memory");
    REG(0xE000EF50u) = 0;                     /* ICIALLU */
    REG(0xE000ED84u) = 0;                     /* CSSELR: level 1 data cache */
    __asm volatile("dsb" ::: "memory");
    const uint32_t ccsidr = REG(0xE000ED80u);
    const uint32_t sets = (ccsidr >> 13) & 0x7FFFu, ways = (ccsidr >> 3) & 0x3FFu;
    for (uint32_t s = 0; s <= sets; ++s) {
        for (uint32_t w = 0; w <= ways; ++w) {
            REG(0xE000EF60u) = ((s & 0x1FFu) << 5) | ((w & 3u) << 30);  /* DCISW */
        }
    }
    __asm volatile("dsb" ::: "memory");
    REG(0xE000ED14u) |= (1u << 17) | (1u << 16);  /* CCR: IC, DC */
    __asm volatile("dsb\n isb" ::: "memory");
#endif
}
