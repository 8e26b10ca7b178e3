/* The inference pin: high for the duration of each inference, so a power meter's digital input windows the energy
 * of exactly the inferences (docs/energy.md). The pin is board data from the profile's [firmware.port_config]
 * (inference_pin_*: -DEK_INFERENCE_PIN_* register addresses and masks), never a board name here; a profile without
 * it builds the calls to nothing. Writes are single stores (BSRR on STM32, OUTSET/OUTCLR on nRF), so raising and
 * lowering the pin costs a few instructions and cannot race the UART interrupt. */
#include "ek_port.h"

#include <stdint.h>

#if defined(EK_INFERENCE_PIN_SET_REG)

#define EK_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

void ek_port_inference_pin_init(void) {
#if defined(EK_INFERENCE_PIN_ENABLE_REG)  /* the GPIO block's clock (RCC on STM32) */
    EK_REG(EK_INFERENCE_PIN_ENABLE_REG) |= EK_INFERENCE_PIN_ENABLE_BITS;
    (void)EK_REG(EK_INFERENCE_PIN_ENABLE_REG);  /* RM0351 5.2.17: a read back lets the enable take effect */
#endif
#if defined(EK_INFERENCE_PIN_MODE_REG)    /* the pin as a push-pull output (MODER on STM32, DIRSET on nRF) */
    EK_REG(EK_INFERENCE_PIN_MODE_REG) = (EK_REG(EK_INFERENCE_PIN_MODE_REG) & ~(uint32_t)EK_INFERENCE_PIN_MODE_MASK)
                                        | EK_INFERENCE_PIN_MODE_BITS;
#endif
    ek_port_inference_pin(0);
}

void ek_port_inference_pin(int high) {
    if (high) {
        EK_REG(EK_INFERENCE_PIN_SET_REG) = EK_INFERENCE_PIN_SET_MASK;
    } else {
        EK_REG(EK_INFERENCE_PIN_CLEAR_REG) = EK_INFERENCE_PIN_CLEAR_MASK;
    }
}

#else

void ek_port_inference_pin_init(void) {}

void ek_port_inference_pin(int high) {
    (void)high;
}

#endif
