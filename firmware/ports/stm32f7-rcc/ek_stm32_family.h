/* STM32F7 bus addresses (RM0385 §2.2.2): GPIO ports on AHB1, RCC_AHB1ENR enables them. */
#ifndef EK_STM32_FAMILY_H
#define EK_STM32_FAMILY_H

#define EK_STM32_RCC_BASE 0x40023800u
#define EK_STM32_GPIO_BASE 0x40020000u
#define EK_STM32_GPIO_STRIDE 0x400u
#define EK_STM32_GPIO_ENR_OFFSET 0x30u  /* RCC_AHB1ENR: GPIOxEN = bit x */

void ek_stm32_clock_init(void);
void ek_stm32_pins_power(void);

#endif
