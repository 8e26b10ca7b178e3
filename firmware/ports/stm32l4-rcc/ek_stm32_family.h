/* STM32L4 / L4+ bus addresses (RM0351 §2.2.2, RM0432 §2.2.2): GPIO ports on AHB2, RCC_AHB2ENR enables them. */
#ifndef EK_STM32_FAMILY_H
#define EK_STM32_FAMILY_H

#define EK_STM32_RCC_BASE 0x40021000u
#define EK_STM32_GPIO_BASE 0x48000000u
#define EK_STM32_GPIO_STRIDE 0x400u
#define EK_STM32_GPIO_ENR_OFFSET 0x4Cu  /* RCC_AHB2ENR: GPIOxEN = bit x */

void ek_stm32_clock_init(void);
void ek_stm32_pins_power(void);

#endif
