/* STM32L4 / L4+ clock tree to the board's full speed (RM0351 §6.2, RM0432 §6.2): the main PLL from MSI (4 MHz
 * after reset), HSI16 or HSE; flash wait states and the ART accelerator's caches first, then SYSCLK to PLLR.
 * On the L4+ above 80 MHz the core regulator goes to range 1 boost mode first, with AHB at SYSCLK/2 for the
 * switch (RM0432 §5.1.8). The PLL's M, N, R, source and the wait states come from [firmware.port_config]. */
#include <stdint.h>

#include "ek_cortex.h"
#include "ek_stm32_family.h"

#if !defined(EK_PLL_SOURCE) || !defined(EK_PLL_M) || !defined(EK_PLL_N) || !defined(EK_PLL_R) || \
    !defined(EK_FLASH_LATENCY)
#error "EK_PLL_SOURCE (1 MSI, 2 HSI16, 3 HSE), EK_PLL_M/N/R and EK_FLASH_LATENCY must come from [firmware.port_config]"
#endif
#if EK_PLL_R != 2 && EK_PLL_R != 4 && EK_PLL_R != 6 && EK_PLL_R != 8
#error "EK_PLL_R must be 2, 4, 6 or 8"
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define RCC_CR REG(EK_STM32_RCC_BASE + 0x00)
#define RCC_CFGR REG(EK_STM32_RCC_BASE + 0x08)
#define RCC_PLLCFGR REG(EK_STM32_RCC_BASE + 0x0C)
#define RCC_APB1ENR1 REG(EK_STM32_RCC_BASE + 0x58)
#define FLASH_ACR REG(0x40022000u)
#define PWR_CR2 REG(0x40007004u)
#define PWR_CR5 REG(0x40007080u)
#define PWR_SR2 REG(0x40007014u)

#define CR_HSION (1u << 8)
#define CR_HSIRDY (1u << 10)
#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)
#define CFGR_SW_PLL 3u
#define CFGR_SWS_MASK (3u << 2)
#define CFGR_HPRE_DIV2 (8u << 4)
#define PLLCFGR_PLLREN (1u << 24)
#define ACR_PRFTEN (1u << 8)
#define ACR_ICEN (1u << 9)
#define ACR_DCEN (1u << 10)
#define APB1ENR1_PWREN (1u << 28)
#define CR5_R1MODE (1u << 8)
#define SR2_VOSF (1u << 10)
#define CR2_IOSV (1u << 9)

void ek_stm32_clock_init(void) {
    RCC_APB1ENR1 |= APB1ENR1_PWREN;
    (void)RCC_APB1ENR1;
#if defined(EK_BOOST) && EK_BOOST
    PWR_CR5 &= ~CR5_R1MODE;  /* range 1 boost: up to 120 MHz */
    ek_cortex_wait_ready(&PWR_SR2, SR2_VOSF, 0);
#endif
    /* Wait states before the clock rises. The read-back RM0351 §3.3.3 asks for is not waited on: QEMU models the
     * flash interface as unimplemented (reads 0), and the same image must run there; silicon applies it at once. */
    FLASH_ACR = (FLASH_ACR & ~0xFu) | EK_FLASH_LATENCY | ACR_PRFTEN | ACR_ICEN | ACR_DCEN;
#if EK_PLL_SOURCE == 2
    RCC_CR |= CR_HSION;
    ek_cortex_wait_ready(&RCC_CR, CR_HSIRDY, CR_HSIRDY);
#elif EK_PLL_SOURCE == 3
    RCC_CR |= CR_HSEON;
    ek_cortex_wait_ready(&RCC_CR, CR_HSERDY, CR_HSERDY);
#endif
    RCC_CR &= ~CR_PLLON;
    ek_cortex_wait_ready(&RCC_CR, CR_PLLRDY, 0);
    RCC_PLLCFGR = (uint32_t)EK_PLL_SOURCE | ((EK_PLL_M - 1u) << 4) | ((uint32_t)EK_PLL_N << 8) | PLLCFGR_PLLREN |
                  ((EK_PLL_R / 2u - 1u) << 25);
    RCC_CR |= CR_PLLON;
    ek_cortex_wait_ready(&RCC_CR, CR_PLLRDY, CR_PLLRDY);
#if defined(EK_BOOST) && EK_BOOST
    RCC_CFGR = (RCC_CFGR & ~(0xFu << 4)) | CFGR_HPRE_DIV2;  /* AHB at SYSCLK/2 across the switch */
#endif
    RCC_CFGR = (RCC_CFGR & ~3u) | CFGR_SW_PLL;
    ek_cortex_wait_ready(&RCC_CFGR, CFGR_SWS_MASK, CFGR_SW_PLL << 2);
#if defined(EK_BOOST) && EK_BOOST
    for (volatile uint32_t i = 0; i < 200; ++i) {  /* at least 1 us at the intermediate frequency */
    }
    RCC_CFGR &= ~(0xFu << 4);
#endif
}

/* Ports G[15:2] sit in the VDDIO2 domain, isolated after reset (RM0351 §5.1.3): a board whose UART is there
 * (EK_VDDIO2) lifts the isolation. */
void ek_stm32_pins_power(void) {
#if defined(EK_VDDIO2) && EK_VDDIO2
    PWR_CR2 |= CR2_IOSV;
#endif
}
