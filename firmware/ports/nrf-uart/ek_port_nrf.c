/* Port for Nordic nRF51 / nRF52 boards over the legacy UART0 (nRF52840 PS §6.34 "UART", nRF51 RM §29: the same
 * registers at 0x40002000 on both, receiving by interrupt), the high-frequency crystal (HFXO) as the clock source
 * (CLOCK, PS §6.4), and DWT CYCCNT for cycles where the core has one (the nRF52's Cortex-M4). Ticks come from
 * SysTick, or from TIMER0 at 16 MHz where the chip has no SysTick (the nRF51's Cortex-M0: EK_TICK_TIMER0). The
 * UART's pins come from [firmware.port_config] as EK_TX_PIN / EK_RX_PIN (P0.n). */
#include <stdint.h>

#include "ek_cortex.h"
#include "ek_port.h"

#ifndef EK_UART_BASE
#error "EK_UART_BASE must come from the build ([firmware] uart_base)"
#endif
#if !defined(EK_UART_IRQ) || EK_UART_IRQ != 2
#error "EK_UART_IRQ must be 2 (UART0) in [firmware.port_config]: the start-up's vector table places the handler by it"
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
#define UART_INTENSET REG(EK_UART_BASE + 0x304)
#define UART_ENABLE REG(EK_UART_BASE + 0x500)
#define UART_PSELTXD REG(EK_UART_BASE + 0x50C)
#define UART_PSELRXD REG(EK_UART_BASE + 0x514)
#define UART_RXD REG(EK_UART_BASE + 0x518)
#define UART_TXD REG(EK_UART_BASE + 0x51C)
#define UART_BAUDRATE REG(EK_UART_BASE + 0x524)
#define UART_CONFIG REG(EK_UART_BASE + 0x56C)
#define UART_ENABLE_UART 4u
#define INT_RXDRDY (1u << 2)
#define UART0_IRQ EK_UART_IRQ  /* UART0's peripheral ID, on the nRF51 and the nRF52 alike */
#define BAUDRATE_115200 0x01D7E000u
#define GPIO_PIN_CNF(n) REG(0x50000700u + 4u * (n))
#define GPIO_OUTSET REG(0x50000508u)
#define PIN_CNF_OUTPUT 1u
#define PIN_CNF_INPUT_CONNECTED 0u
#define TIMER0_TASKS_START REG(0x40008000u)
#define TIMER0_TASKS_CLEAR REG(0x4000800Cu)
#define TIMER0_TASKS_CAPTURE0 REG(0x40008040u)
#define TIMER0_MODE REG(0x40008504u)
#define TIMER0_BITMODE REG(0x40008508u)
#define TIMER0_PRESCALER REG(0x40008510u)
#define TIMER0_CC0 REG(0x40008540u)
#define TIMER_BITMODE_32 3u

#if defined(EK_TICK_TIMER0) && EK_TICK_TIMER0
static void ticks_start(void) {
    TIMER0_MODE = 0;  /* timer */
    TIMER0_BITMODE = TIMER_BITMODE_32;
    TIMER0_PRESCALER = 0;  /* 16 MHz */
    TIMER0_TASKS_CLEAR = 1;
    TIMER0_TASKS_START = 1;
}

/* The 32-bit count wraps every 268 s: readings closer together than that (those around one inference) extend to
 * 64 bits. Called from the agent's loop only, never from an interrupt. */
uint64_t ek_port_ticks(void) {
    static uint32_t last, high;
    TIMER0_TASKS_CAPTURE0 = 1;
    const uint32_t now = TIMER0_CC0;
    if (now < last) {
        ++high;
    }
    last = now;
    return ((uint64_t)high << 32) | now;
}
#else
static void ticks_start(void) {
    ek_cortex_systick_start();
}

uint64_t ek_port_ticks(void) {
    return ek_cortex_systick_ticks();
}
#endif

void ek_port_init(void) {
    CLOCK_EVENTS_HFCLKSTARTED = 0;
    CLOCK_TASKS_HFCLKSTART = 1;
    ek_cortex_wait_ready(&CLOCK_EVENTS_HFCLKSTARTED, 1u, 1u);
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
    UART_INTENSET = INT_RXDRDY;
    ek_cortex_irq_enable(UART0_IRQ);
    UART_TASKS_STARTRX = 1;
    UART_TASKS_STARTTX = 1;
    ticks_start();
    ek_cortex_cycle_counter_start();
}

/* Received bytes go to the ring as they come (RXD holds six at most), so none is lost while the agent works. */
void ek_port_uart_irq(void) {
    while (UART_EVENTS_RXDRDY) {
        UART_EVENTS_RXDRDY = 0;  /* clear before reading RXD: the next byte raises it again (PS §6.34.5) */
        ek_cortex_rx_push((uint8_t)UART_RXD);
    }
    if (UART_EVENTS_ERROR) {     /* overrun or framing: the lost byte fails the frame's CRC */
        UART_EVENTS_ERROR = 0;
        UART_ERRORSRC = UART_ERRORSRC;
    }
}

uint8_t ek_port_getc(void) {
    return ek_cortex_rx_getc();
}

void ek_port_write(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        UART_EVENTS_TXDRDY = 0;
        UART_TXD = data[i];
        while (UART_EVENTS_TXDRDY == 0) {
        }
    }
}
