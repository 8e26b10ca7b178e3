/* Port for STM32 boards whose debug UART is a USART (or LPUART) of the "v2" register block that the L4, L4+ and
 * F7 share (RM0351 §40.8, RM0432 §52.8, RM0385 §34.8: CR1 +0x00, BRR +0x0C, ISR +0x1C, ICR +0x20, RDR +0x24,
 * TDR +0x28). The family's clock tree and bus addresses come from the clock folder built beside this one
 * (ek_stm32_family.h); the board's pins, UART and clocks come from the profile's [firmware.port_config] as
 * EK_* defines. */
#include <stdint.h>

#include "ek_cortex.h"
#include "ek_port.h"
#include "ek_stm32_family.h"

#ifndef EK_UART_BASE
#error "EK_UART_BASE must come from the build ([firmware] uart_base)"
#endif
#if !defined(EK_UART_CLOCK_HZ) || !defined(EK_UART_ENR_OFFSET) || !defined(EK_UART_ENR_BIT)
#error "EK_UART_CLOCK_HZ, EK_UART_ENR_OFFSET and EK_UART_ENR_BIT must come from [firmware.port_config]"
#endif
#if !defined(EK_TX_PORT) || !defined(EK_TX_PIN) || !defined(EK_TX_AF) || \
    !defined(EK_RX_PORT) || !defined(EK_RX_PIN) || !defined(EK_RX_AF)
#error "the UART's pins (EK_TX_PORT/PIN/AF, EK_RX_PORT/PIN/AF; port 0 = A) must come from [firmware.port_config]"
#endif
#ifndef EK_UART_IRQ
#error "EK_UART_IRQ (the UART's interrupt number: it receives by interrupt) must come from [firmware.port_config]"
#endif
#ifndef EK_BAUD
#define EK_BAUD 115200u
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define UART_CR1 REG(EK_UART_BASE + 0x00)
#define UART_BRR REG(EK_UART_BASE + 0x0C)
#define UART_ISR REG(EK_UART_BASE + 0x1C)
#define UART_ICR REG(EK_UART_BASE + 0x20)
#define UART_RDR REG(EK_UART_BASE + 0x24)
#define UART_TDR REG(EK_UART_BASE + 0x28)
#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define ISR_ORE (1u << 3)
#define ISR_RXNE (1u << 5)
#define ISR_TXE (1u << 7)
#define ICR_ORECF (1u << 3)

/* USART: oversampling by 16, BRR = f_ck / baud (rounded). LPUART: BRR = 256 f_ck / baud (RM0351 §41.4.4). */
#if defined(EK_LPUART) && EK_LPUART
#define UART_BRR_VALUE ((uint32_t)((256ull * EK_UART_CLOCK_HZ + EK_BAUD / 2) / EK_BAUD))
#else
#define UART_BRR_VALUE ((uint32_t)((EK_UART_CLOCK_HZ + EK_BAUD / 2) / EK_BAUD))
#endif

#define GPIO(port, offset) REG(EK_STM32_GPIO_BASE + (port) * EK_STM32_GPIO_STRIDE + (offset))

static void pin_alternate(uint32_t port, uint32_t pin, uint32_t af) {
    REG(EK_STM32_RCC_BASE + EK_STM32_GPIO_ENR_OFFSET) |= 1u << port;
    (void)REG(EK_STM32_RCC_BASE + EK_STM32_GPIO_ENR_OFFSET);  /* the clock is on two cycles after the write */
    volatile uint32_t *afr = &GPIO(port, pin < 8 ? 0x20 : 0x24);
    *afr = (*afr & ~(0xFu << (4 * (pin % 8)))) | (af << (4 * (pin % 8)));
    GPIO(port, 0x08) |= 3u << (2 * pin);                                        /* OSPEEDR: very high */
    GPIO(port, 0x00) = (GPIO(port, 0x00) & ~(3u << (2 * pin))) | (2u << (2 * pin));  /* MODER: alternate */
}

void ek_port_init(void) {
    ek_stm32_clock_init();
    REG(EK_STM32_RCC_BASE + EK_UART_ENR_OFFSET) |= 1u << EK_UART_ENR_BIT;
    (void)REG(EK_STM32_RCC_BASE + EK_UART_ENR_OFFSET);
    ek_stm32_pins_power();
    pin_alternate(EK_TX_PORT, EK_TX_PIN, EK_TX_AF);
    pin_alternate(EK_RX_PORT, EK_RX_PIN, EK_RX_AF);
    UART_CR1 = 0;
    UART_BRR = UART_BRR_VALUE;
    UART_CR1 = CR1_TE | CR1_RE | CR1_UE | CR1_RXNEIE;
    ek_cortex_irq_enable(EK_UART_IRQ);
    ek_cortex_systick_start();
    ek_cortex_cycle_counter_start();
}

/* Received bytes go to the ring as they come, so none is lost while the agent is busy or asleep. */
void ek_port_uart_irq(void) {
    uint32_t isr;
    while ((isr = UART_ISR) & (ISR_RXNE | ISR_ORE)) {
        if (isr & ISR_RXNE) {
            ek_cortex_rx_push((uint8_t)UART_RDR);
        } else {  /* an overrun stops reception until cleared; the lost byte fails the frame's CRC */
            UART_ICR = ICR_ORECF;
        }
    }
}

uint8_t ek_port_getc(void) {
    return ek_cortex_rx_getc();
}

void ek_port_write(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        while ((UART_ISR & ISR_TXE) == 0) {
        }
        UART_TDR = data[i];
    }
}

uint64_t ek_port_ticks(void) {
    return ek_cortex_systick_ticks();
}
