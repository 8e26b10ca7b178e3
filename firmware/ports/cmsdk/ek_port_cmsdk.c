/* Port for boards with an ARM CMSDK APB UART (the MPS2/MPS3 FPGA images QEMU emulates: mps2-an386 Cortex-M4,
 * mps2-an500 Cortex-M7, mps3-an547 Cortex-M55). The UART base and SysTick clock come from the profile as
 * EK_UART_BASE and EK_SYSTICK_HZ; the FPGA images run at a fixed clock, so there is no clock tree to set. */
#include <stdint.h>

#include "ek_cortex.h"
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

void ek_port_init(void) {
    UART_BAUDDIV = 16;
    UART_CTRL = 0x3;  /* TX and RX enable */
    ek_cortex_systick_start();
    ek_cortex_cycle_counter_start();
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
    return ek_cortex_systick_ticks();
}
