/* Cortex-M core facilities shared by the ports (firmware/ports/common/ek_cortex.c). */
#ifndef EK_CORTEX_H
#define EK_CORTEX_H

#include <stdint.h>

/* The fault code a port stops with when its hardware never becomes ready (an oscillator or PLL that does not
 * lock): QEMU exits with it under semihosting; a real board halts, and the host's first request times out. */
#define EK_FAULT_CLOCK 0x72

/* Polls of a ready flag before a port gives up: far more than any oscillator or PLL needs at any clock. */
#define EK_CORTEX_WAIT_LIMIT 2000000u

void ek_cortex_systick_start(void);
uint64_t ek_cortex_systick_ticks(void);
void ek_cortex_cycle_counter_start(void);
void ek_cortex_caches_enable(void);  /* L1 I and D caches on (Cortex-M7/M55); nothing on other cores */
/* The receive ring between a UART's interrupt and the agent: a power of two, larger than any frame's burst. */
#define EK_CORTEX_RX_RING 1024u

void ek_cortex_rx_push(uint8_t byte);   /* from the UART's interrupt handler */
uint8_t ek_cortex_rx_getc(void);        /* blocks, sleeping (WFI), until a byte is there */
void ek_cortex_irq_enable(uint32_t irq);
/* Returns once (*reg & mask) == value; after EK_CORTEX_WAIT_LIMIT polls, stops with EK_FAULT_CLOCK. */
void ek_cortex_wait_ready(volatile uint32_t *reg, uint32_t mask, uint32_t value);

#endif
