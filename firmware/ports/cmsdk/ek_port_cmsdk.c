/* Port for boards with an ARM CMSDK APB UART (the MPS2/MPS3 FPGA images QEMU emulates: mps2-an386 Cortex-M4,
 * mps2-an500 Cortex-M7, mps3-an547 Cortex-M55). The UART base and SysTick clock come from the profile as
 * EK_UART_BASE and EK_SYSTICK_HZ; EK_SEMIHOSTING (emulators only) lets a fault stop QEMU with an exit code. */
#include <stdint.h>

#include "ek_port.h"

#ifndef EK_UART_BASE
#error "EK_UART_BASE must come from the build (profile [emulation.options] / [firmware] uart_base)"
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define UART_DATA REG(EK_UART_BASE + 0x00)
#define UART_STATE REG(EK_UART_BASE + 0x04)
#define UART_CTRL REG(EK_UART_BASE + 0x08)
#define UART_BAUDDIV REG(EK_UART_BASE + 0x10)
#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u

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

void ek_port_init(void) {
    UART_BAUDDIV = 16;
    UART_CTRL = 0x3;  /* TX and RX enable */
    /* SysTick from the core clock, 24-bit full range, wrap interrupt counted in systick_wraps */
    SYST_CSR = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 0x7;
    while (SYST_CVR == 0) {
    }
    /* DWT cycle counter where the silicon has one; QEMU implements none (reads 0), so check that it runs */
    DEMCR |= 1u << 24;
    if ((DWT_CTRL & (1u << 25)) == 0) {  /* NOCYCCNT clear */
        DWT_CYCCNT = 0;
        DWT_CTRL |= 1u;
        const uint32_t c0 = DWT_CYCCNT;
        for (volatile int i = 0; i < 16; ++i) {
        }
        cycle_counter = DWT_CYCCNT != c0;
    }
}

uint8_t ek_port_getc(void) {
    while ((UART_STATE & STATE_RX_FULL) == 0) {
    }
    return (uint8_t)UART_DATA;
}

void ek_port_write(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        while (UART_STATE & STATE_TX_FULL) {
        }
        UART_DATA = data[i];
    }
}

uint64_t ek_port_ticks(void) {
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << 24) + (0xFFFFFFu - value);
}

uint32_t ek_port_cycles(void) {
    return cycle_counter ? DWT_CYCCNT : 0;
}

int ek_port_has_cycle_counter(void) {
    return cycle_counter;
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
