/* A user's own firmware for the B-L475E-IOT01A (STM32L475VG) that runs an edgekit model library: no edgekit
 * agent, no edgekit port. It brings up USART1 (the ST-LINK virtual COM port, PB6 TX / PB7 RX, 115200 8N1 from
 * the 4 MHz MSI clock the chip boots on), runs the model on each input compiled in and prints every output as a
 * line "y <bytes in hex>", then "done <status>".
 *
 * Inputs: APP_INPUTS names a header defining `static const int8_t app_inputs[][EDGEKIT_MODEL_INPUT0_BYTES]`
 * (quantized with EDGEKIT_MODEL_INPUT0_SCALE / _ZERO_POINT); without it, one input of all zero points.
 * APP_SEMIHOSTING_EXIT: stop through semihosting SYS_EXIT_EXTENDED (QEMU exits with the status); without it the
 * core sleeps, as on a board without a debugger. */
#include <stdint.h>

#include "edgekit_model.h"

#if defined(APP_INPUTS)
#include APP_INPUTS
#else
static int8_t app_inputs[1][EDGEKIT_MODEL_INPUT0_BYTES];
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define RCC_BASE 0x40021000u
#define RCC_AHB2ENR REG(RCC_BASE + 0x4Cu)
#define RCC_APB2ENR REG(RCC_BASE + 0x60u)
#define RCC_AHB2ENR_GPIOBEN (1u << 1)
#define RCC_APB2ENR_USART1EN (1u << 14)
#define GPIOB_BASE 0x48000400u
#define GPIOB_MODER REG(GPIOB_BASE + 0x00u)
#define GPIOB_AFRL REG(GPIOB_BASE + 0x20u)
#define USART1_BASE 0x40013800u
#define USART1_CR1 REG(USART1_BASE + 0x00u)
#define USART1_BRR REG(USART1_BASE + 0x0Cu)
#define USART1_ISR REG(USART1_BASE + 0x1Cu)
#define USART1_TDR REG(USART1_BASE + 0x28u)
#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)
#define CLOCK_HZ 4000000u  /* MSI after reset */
#define BAUD 115200u

static void uart_init(void) {
    RCC_AHB2ENR |= RCC_AHB2ENR_GPIOBEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    (void)RCC_APB2ENR;  /* read back: the clock is on before the peripheral is touched */
    /* PB6, PB7: alternate function (MODER 0b10), AF7 = USART1 */
    GPIOB_MODER = (GPIOB_MODER & ~((3u << 12) | (3u << 14))) | (2u << 12) | (2u << 14);
    GPIOB_AFRL = (GPIOB_AFRL & ~((0xFu << 24) | (0xFu << 28))) | (7u << 24) | (7u << 28);
    USART1_CR1 = 0;
    USART1_BRR = (CLOCK_HZ + BAUD / 2) / BAUD;
    USART1_CR1 = CR1_TE | CR1_RE | CR1_UE;
}

static void uart_putc(char c) {
    while (!(USART1_ISR & ISR_TXE)) {
    }
    USART1_TDR = (uint8_t)c;
}

static void uart_puts(const char *s) {
    while (*s) {
        uart_putc(*s++);
    }
}

static void uart_hex(const uint8_t *bytes, uint32_t n) {
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < n; ++i) {
        uart_putc(digits[bytes[i] >> 4]);
        uart_putc(digits[bytes[i] & 0xF]);
    }
}

void app_stop(uint32_t code) {
    while (!(USART1_ISR & ISR_TC)) {  /* the last byte is out */
    }
#if defined(APP_SEMIHOSTING_EXIT)
    static volatile uint32_t block[2];
    block[0] = 0x20026;  /* ADP_Stopped_ApplicationExit */
    block[1] = code;
    register uint32_t r0 __asm("r0") = 0x20;  /* SYS_EXIT_EXTENDED */
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
#else
    (void)code;
#endif
    for (;;) {
        __asm volatile("wfi");
    }
}

int main(void) {
    uart_init();
    uart_puts("edgekit model library on B-L475E-IOT01A\r\n");
    int32_t status = edgekit_model_init();
    for (uint32_t k = 0; status == EDGEKIT_OK && k < sizeof app_inputs / sizeof app_inputs[0]; ++k) {
        int8_t *in = EDGEKIT_MODEL_INPUT0_PTR;
        for (uint32_t i = 0; i < EDGEKIT_MODEL_INPUT0_BYTES; ++i) {
#if defined(APP_INPUTS)
            in[i] = app_inputs[k][i];
#else
            in[i] = (int8_t)EDGEKIT_MODEL_INPUT0_ZERO_POINT;
#endif
        }
        status = edgekit_model_run();
        if (status == EDGEKIT_OK) {
            uart_puts("y ");
            uart_hex((const uint8_t *)edgekit_model_output(0), EDGEKIT_MODEL_OUTPUT0_BYTES);
            uart_puts("\r\n");
        }
    }
    uart_puts(status == EDGEKIT_OK ? "done 0\r\n" : "done error\r\n");
    return (int)status;
}
