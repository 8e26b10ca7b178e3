/* STM32F7 clock tree to the board's full speed (RM0385 §5.3): HSE (the board's crystal), the main PLL to SYSCLK,
 * over-drive for above 180 MHz (§4.1.4), flash wait states with the ART accelerator and prefetch (§3.3.2), APB1
 * at /4 and APB2 at /2 (their 54 / 108 MHz limits at 216 MHz), then the Cortex-M7's L1 caches. The PLL's M, N,
 * P and the wait states come from [firmware.port_config]. */
#include <stdint.h>

#include "ek_cortex.h"
#include "ek_stm32_family.h"

#if !defined(EK_PLL_M) || !defined(EK_PLL_N) || !defined(EK_PLL_P) || !defined(EK_PLL_Q) || !defined(EK_FLASH_LATENCY)
#error "EK_PLL_M, EK_PLL_N, EK_PLL_P, EK_PLL_Q and EK_FLASH_LATENCY must come from [firmware.port_config]"
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define RCC_CR REG(EK_STM32_RCC_BASE + 0x00)
#define RCC_PLLCFGR REG(EK_STM32_RCC_BASE + 0x04)
#define RCC_CFGR REG(EK_STM32_RCC_BASE + 0x08)
#define RCC_APB1ENR REG(EK_STM32_RCC_BASE + 0x40)
#define FLASH_ACR REG(0x40023C00u)
#define PWR_CR1 REG(0x40007000u)
#define PWR_CSR1 REG(0x40007004u)

#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)
#define PLLCFGR_SRC_HSE (1u << 22)
#define PLLCFGR_FIELDS 0x0F437FFFu  /* PLLM, PLLN, PLLP, PLLSRC, PLLQ; the reserved bits keep their reset values */
#define CFGR_SW_PLL 2u
#define CFGR_PPRE1_DIV4 (5u << 10)
#define CFGR_PPRE2_DIV2 (4u << 13)
#define ACR_PRFTEN (1u << 8)
#define ACR_ARTEN (1u << 9)
#define APB1ENR_PWREN (1u << 28)
#define PWR_ODEN (1u << 16)
#define PWR_ODSWEN (1u << 17)
#define CSR1_ODRDY (1u << 16)
#define CSR1_ODSWRDY (1u << 17)

void ek_stm32_clock_init(void) {
    RCC_APB1ENR |= APB1ENR_PWREN;
    (void)RCC_APB1ENR;
    RCC_CR |= CR_HSEON;
    ek_cortex_wait_ready(&RCC_CR, CR_HSERDY, CR_HSERDY);
    RCC_PLLCFGR = (RCC_PLLCFGR & ~PLLCFGR_FIELDS) | (uint32_t)EK_PLL_M | ((uint32_t)EK_PLL_N << 6) |
                  ((EK_PLL_P / 2u - 1u) << 16) | PLLCFGR_SRC_HSE | ((uint32_t)EK_PLL_Q << 24);
    RCC_CR |= CR_PLLON;
    ek_cortex_wait_ready(&RCC_CR, CR_PLLRDY, CR_PLLRDY);
#if defined(EK_OVERDRIVE) && EK_OVERDRIVE
    PWR_CR1 |= PWR_ODEN;
    ek_cortex_wait_ready(&PWR_CSR1, CSR1_ODRDY, CSR1_ODRDY);
    PWR_CR1 |= PWR_ODSWEN;
    ek_cortex_wait_ready(&PWR_CSR1, CSR1_ODSWRDY, CSR1_ODSWRDY);
#endif
    FLASH_ACR = (FLASH_ACR & ~0xFu) | EK_FLASH_LATENCY | ACR_PRFTEN | ACR_ARTEN;
    ek_cortex_wait_ready(&FLASH_ACR, 0xFu, EK_FLASH_LATENCY);
    RCC_CFGR = (RCC_CFGR & ~((7u << 10) | (7u << 13))) | CFGR_PPRE1_DIV4 | CFGR_PPRE2_DIV2;
    RCC_CFGR = (RCC_CFGR & ~3u) | CFGR_SW_PLL;
    ek_cortex_wait_ready(&RCC_CFGR, 3u << 2, CFGR_SW_PLL << 2);
    ek_cortex_caches_enable();
}

void ek_stm32_pins_power(void) {
}
