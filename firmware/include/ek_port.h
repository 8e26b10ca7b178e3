/* What a board port provides to the agent: a byte-serial link, a tick timer, an optional cycle counter and a
 * way to stop. Board facts (UART base address, SysTick clock) come from the build as -D defines taken from the
 * device profile, never from board names in code. */
#ifndef EK_PORT_H
#define EK_PORT_H

#include <stddef.h>
#include <stdint.h>

void ek_port_init(void);
uint8_t ek_port_getc(void);                       /* blocks until a byte arrives */
void ek_port_write(const uint8_t *data, size_t n);
uint64_t ek_port_ticks(void);                     /* SysTick ticks since init, wraps counted */
uint32_t ek_port_cycles(void);                    /* DWT CYCCNT; 0 where the core (or QEMU) has none */
int ek_port_has_cycle_counter(void);
void ek_port_fault(uint32_t code);                /* unrecoverable: stop (semihosting exit under QEMU) */
void ek_port_inference_pin_init(void);            /* the profile's inference pin as a low output, if it has one */
void ek_port_inference_pin(int high);             /* high during each inference (ports/common/ek_inference_pin.c) */

#endif
