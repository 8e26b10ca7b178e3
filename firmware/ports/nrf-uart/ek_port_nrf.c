/* Port for Nordic nRF51 / nRF52 boards over the legacy UART0 (nRF52840 PS §6.34 "UART", nRF51 RM §29: the same
 * registers at 0x40002000 on both), the high-frequency crystal (HFXO) as the clock source (CLOCK, PS §6.4), SysTick
 * for ticks and DWT CYCCNT for cycles where the core has them (the nRF52's Cortex-M4; the nRF51's Cortex-M0 has
 * neither a cycle counter nor, on silicon, a SysTick: EK_SYSTICK_HZ 0 there times with TIMER0 instead). The
 * UART's pins come from [firmware.port_config] as EK_TX_PIN / EK_RX_PIN (P0.n). */
#include <stdint.h>

#include "ek_cortex.h"
#include "ek_port.h"

#ifndef EK_UART_BASE
#error "EK_UART_BASE must come from the build ([firmware] uart_base)"
#endif
#if !defined(EK_TX_PIN) || !defined(EK_RX_PIN)
#error "EK_TX_PIN and EK_RX_PIN (GPIO P0.n) must come from [firmware.port_config]"
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define CLOCK_TASKS_HFCLKSTART REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG(0x40000100u)
#define UART_TASKS_STARTRX REG(EK_UART_BASE + 0x000)
#define UART_TASKS_STARTTX REG(EK_UART_BASE + 0x008)
#define UART_EVENTS_RXDRDY REG(EK_UART_BASE + 0x108)
#define UART_EVENTS_TXDRDY REG(EK_UART_BASE + 0x11C)
#define UART_EVENTS_ERROR REG(EK_UART_BASE + 0x124)
#define UART_ERRORSRC REG(EK_UART_BASE + 0x480)
#define UART_ENABLE REG(EK_UART_BASE + 0x500)
#define UART_PSELTXD REG(EK_UART_BASE + 0x50C)
#define UART_PSELRXD REG(EK_UART_BASE + 0x514)
#define UART_RXD REG(EK_UART_BASE + 0x518)
#define UART_TXD REG(EK_UART_BASE + 0x51C)
#define UART_BAUDRATE REG(EK_UART_BASE + 0x524)
#define UART_CONFIG REG(EK_UART_BASE + 0x56C)
#define UART_ENABLE_UART 4u
#define BAUDRATE_115200 0x01D7E000u
#define GPIO_PIN_CNF(n) REG(0x50000700u + 4u * (n))
#define GPIO_OUTSET REG(0x50000508u)
#define PIN_CNF_OUTPUT 1u
#define PIN_CNF_INPUT_CONNECTED 0u

void ek_port_init(void) {
    CLOCK_EVENTS_HFCLKSTARTED = 0;
    CLOCK_TASKS_HFCLKSTART = 1;
    if (!ek_cortex_wait(&CLOCK_EVENTS_HFCLKSTARTED, 1u, 1u)) {
        ek_port_fault(EK_FAULT_CLOCK);
    }
    GPIO_OUTSET = 1u << EK_TX_PIN;  /* TXD idles high before the UART takes the pin */
    GPIO_PIN_CNF(EK_TX_PIN) = PIN_CNF_OUTPUT;
    GPIO_PIN_CNF(EK_RX_PIN) = PIN_CNF_INPUT_CONNECTED;
    UART_PSELTXD = EK_TX_PIN;
    UART_PSELRXD = EK_RX_PIN;
    UART_BAUDRATE = BAUDRATE_115200;
    UART_CONFIG = 0;  /* no parity, no flow control */
    UART_ENABLE = UART_ENABLE_UART;
    UART_EVENTS_RXDRDY = 0;
    UART_EVENTS_TXDRDY = 0;
    UART_TASKS_STARTRX = 1;
    UART_TASKS_STARTTX = 1;
    ek_cortex_systick_start();
    ek_cortex_cycle_counter_start();
}

uint8_t ek_port_getc(void) {
    for (;;) {
        if (UART_EVENTS_RXDRDY) {
            UART_EVENTS_RXDRDY = 0;  /* clear before reading RXD: the next byte raises it again (PS §6.34.5) */
            return (uint8_t)UART_RXD;
        }
        if (UART_EVENTS_ERROR) {     /* overrun or framing: the lost byte fails the frame's CRC */
            UART_EVENTS_ERROR = 0;
            UART_ERRORSRC = UART_ERRORSRC;
        }
    }
}

void ek_port_write(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        UART_EVENTS_TXDRDY = 0;
        UART_TXD = data[i];
        while (UART_EVENTS_TXDRDY == 0) {
        }
    }
}

uint64_t ek_port_ticks(void) {
    return ek_cortex_systick_ticks();
}
