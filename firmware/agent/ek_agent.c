/* The MCU agent: prepares the generated model once, then answers framed commands over the serial link
 * (ek_protocol.h). No malloc: one receive buffer, one reply buffer, the model's static arena. Every received
 * frame is bounds-checked before its payload is used. The model's input and output places (ek_model.h) are
 * checked once at boot (inside the arena, adding up to the totals); SET_INPUT and GET_OUTPUT then address the
 * tensors packed one after another and copy piece by piece, each piece inside its own tensor. A RUN with
 * EK_RUN_PROFILE runs the model's profiled eval, which marks each kernel call; the agent's mark writes the time
 * since the previous mark into the model's own table (sized at code generation), which PROFILE returns. */
#include <string.h>

#include "ek_crc32.h"
#include "ek_model.h"
#include "ek_port.h"
#include "ek_protocol.h"
#include "ek_status.h"

#ifndef EK_CORE_NAME
#define EK_CORE_NAME "cortex-m"
#endif
#ifndef EK_PROFILE_NAME
#error "EK_PROFILE_NAME (the device profile this image is built for: INFO reports it) must come from the build"
#endif
#ifndef EK_SYSTICK_HZ
#error "EK_SYSTICK_HZ (the SysTick clock of this board) must come from the build"
#endif
#ifndef EK_KERNELS_VARIANT
#error "EK_KERNELS_VARIANT (0 reference, 1 DSP kernels: INFO's kernels byte) must come from the build"
#endif

#define ARENA_PAINT 0xA5A5A5A5u
#define STACK_PAINT 0xC5C5C5C5u

extern uint32_t __stack_limit[], __stack_top[];

static uint8_t rx_payload[EK_MAX_PAYLOAD];
static uint8_t tx_payload[EK_MAX_PAYLOAD];
static ek_status model_status = EK_E_NOT_READY;
static int io_ok;  /* the model's tensor places lie inside the arena and add up to its totals (checked at boot) */
static uint32_t runs_done, ticks_last, cycles_last;

/* Profiling state: what PROFILE answers (EK_OK once a profiled inference completed with every call in the table),
 * the clock at the previous mark, and whether a mark fell outside the table. */
static ek_status profile_status = EK_E_NO_PROFILE;
static uint32_t profile_last, profile_overflow, profile_clock;

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, v); put_u16(p + 2, v >> 16); }
static uint32_t get_u32(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

static void send_frame(uint8_t kind, uint8_t seq, const uint8_t *payload, uint16_t n) {
    uint8_t head[EK_HEADER_BYTES] = {EK_MAGIC0, EK_MAGIC1, kind, seq, (uint8_t)n, (uint8_t)(n >> 8)};
    uint32_t crc = ek_crc32_update(0, head + 2, EK_HEADER_BYTES - 2);
    crc = ek_crc32_update(crc, payload, n);
    uint8_t tail[EK_CRC_BYTES];
    put_u32(tail, crc);
    ek_port_write(head, sizeof head);
    ek_port_write(payload, n);
    ek_port_write(tail, sizeof tail);
}

/* Reads one frame. Returns EK_OK with the frame, or an error to reply with (the frame's seq is still known). */
static ek_status recv_frame(uint8_t *kind, uint8_t *seq, uint16_t *n) {
    uint8_t b = ek_port_getc();
    for (;;) {  /* hunt for the two magic bytes; a stray MAGIC0 may start the real header */
        while (b != EK_MAGIC0) {
            b = ek_port_getc();
        }
        b = ek_port_getc();
        if (b == EK_MAGIC1) {
            break;
        }
    }
    uint8_t head[EK_HEADER_BYTES - 2];
    for (size_t i = 0; i < sizeof head; ++i) {
        head[i] = ek_port_getc();
    }
    *kind = head[0];
    *seq = head[1];
    *n = (uint16_t)(head[2] | (head[3] << 8));
    if (*n > EK_MAX_PAYLOAD) {
        return EK_E_BAD_LENGTH;  /* payload not read: the hunt above skips it (the CRC guards a false magic) */
    }
    for (uint16_t i = 0; i < *n; ++i) {
        rx_payload[i] = ek_port_getc();
    }
    uint8_t tail[EK_CRC_BYTES];
    for (size_t i = 0; i < sizeof tail; ++i) {
        tail[i] = ek_port_getc();
    }
    uint32_t crc = ek_crc32_update(0, head, sizeof head);
    crc = ek_crc32_update(crc, rx_payload, *n);
    return crc == get_u32(tail) ? EK_OK : EK_E_BAD_CRC;
}

static uint32_t arena_used(void) {
    const uint32_t *words = (const uint32_t *)ek_arena;
    uint32_t n = ek_model.arena_bytes / 4;
    while (n > 0 && words[n - 1] == ARENA_PAINT) {
        --n;
    }
    return n * 4;
}

static uint32_t stack_peak(void) {
    const uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

/* Paint what is not yet in use: the arena whole, the stack below the current frame. */
static void paint(void) {
    uint32_t *words = (uint32_t *)ek_arena;
    for (uint32_t i = 0; i < ek_model.arena_bytes / 4; ++i) {
        words[i] = ARENA_PAINT;
    }
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __stack_limit; p < sp - 16; ++p) {
        *p = STACK_PAINT;
    }
}

/* `n` places, each inside the arena, whose sizes add up to `total` exactly. */
static int places_ok(const ek_tensor_place *t, uint32_t n, uint32_t total) {
    if (n > 0xFFFFu || (n != 0 && t == NULL)) {
        return 0;
    }
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; ++i) {
        if (t[i].offset > ek_model.arena_bytes || t[i].bytes > ek_model.arena_bytes - t[i].offset ||
            t[i].bytes > total - sum) {
            return 0;
        }
        sum += t[i].bytes;
    }
    return sum == total;
}

/* Copies `len` bytes between `buf` and bytes [offset, offset + len) of the `n` tensors `t` packed one after
 * another (the caller checked offset + len <= their total): a piece per tensor, each inside that tensor. */
static void copy_packed(const ek_tensor_place *t, uint32_t n, uint32_t offset, uint8_t *buf, uint32_t len,
                        int into_arena) {
    for (uint32_t i = 0; i < n && len > 0; ++i) {
        if (offset >= t[i].bytes) {
            offset -= t[i].bytes;
            continue;
        }
        const uint32_t k = t[i].bytes - offset < len ? t[i].bytes - offset : len;
        int8_t *at = ek_arena + t[i].offset + offset;
        if (into_arena) {
            memcpy(at, buf, k);
        } else {
            memcpy(buf, at, k);
        }
        buf += k;
        len -= k;
        offset = 0;
    }
}

static uint16_t do_info(void) {
    static const char core[] = EK_CORE_NAME;
    static const char profile[] = EK_PROFILE_NAME;
    const uint32_t name_len = sizeof core - 1, profile_len = sizeof profile - 1;
    _Static_assert(EK_INFO_FIXED_BYTES + sizeof core + sizeof profile <= EK_MAX_PAYLOAD, "INFO reply too long");
    put_u16(tx_payload + 0, EK_PROTOCOL_VERSION);
    put_u16(tx_payload + 2, (ek_port_has_cycle_counter() ? EK_FLAG_CYCCNT : 0) | (model_status == EK_OK ? EK_FLAG_READY : 0));
    put_u32(tx_payload + 4, EK_SYSTICK_HZ);
    put_u32(tx_payload + 8, ek_model.input_bytes);
    put_u32(tx_payload + 12, ek_model.output_bytes);
    put_u32(tx_payload + 16, ek_model.arena_bytes);
    put_u32(tx_payload + 20, ek_model.model_id);
    put_u16(tx_payload + 24, io_ok ? ek_model.num_inputs : 0);
    put_u16(tx_payload + 26, io_ok ? ek_model.num_outputs : 0);
    tx_payload[28] = EK_KERNELS_VARIANT;
    tx_payload[29] = (uint8_t)name_len;
    memcpy(tx_payload + EK_INFO_FIXED_BYTES, core, name_len);
    tx_payload[EK_INFO_FIXED_BYTES + name_len] = (uint8_t)profile_len;
    memcpy(tx_payload + EK_INFO_FIXED_BYTES + name_len + 1, profile, profile_len);
    return (uint16_t)(EK_INFO_FIXED_BYTES + name_len + 1 + profile_len);
}

static ek_status do_set_input(uint16_t n) {
    if (n < 4) {
        return EK_E_BAD_LENGTH;
    }
    if (!io_ok) {
        return EK_E_NOT_READY;
    }
    const uint32_t offset = get_u32(rx_payload), len = n - 4u;
    if (offset > ek_model.input_bytes || len > ek_model.input_bytes - offset) {
        return EK_E_BAD_ARG;
    }
    copy_packed(ek_model.inputs, ek_model.num_inputs, offset, rx_payload + 4, len, 1);
    return EK_OK;
}

/* The profile's clock: DWT cycles where the core counts them, else SysTick ticks (QEMU -icount: virtual time, a
 * fixed number of instructions per tick). Two marks read it once each; only the low 32 bits matter for a call. */
static void profile_mark(uint32_t call) {
    const uint32_t now = profile_clock == EK_PROFILE_CLOCK_CYCLES ? ek_port_cycles() : (uint32_t)ek_port_ticks();
    if (call < ek_model_calls) {
        ek_model_profile[call] = now - profile_last;
    } else if (call != EK_PROFILE_START) {
        profile_overflow = 1;  /* never written past the table: PROFILE answers EK_E_PROFILE_FULL */
    }
    profile_last = now;
}

static ek_status eval_profiled(void) {
    profile_status = EK_E_NO_PROFILE;  /* a failed run leaves no stale table behind */
    profile_overflow = 0;
    const ek_status s = ek_model_eval_profiled(profile_mark);
    if (s == EK_OK) {
        profile_status = profile_overflow ? EK_E_PROFILE_FULL : EK_OK;
    }
    return s;
}

/* One timed inference. Always inlined with a constant `eval`, so that the plain RUN's timed region is a direct call
 * of ek_model_eval between the clock readings, instruction for instruction what it was before profiling existed. */
static inline __attribute__((always_inline)) ek_status timed_run(ek_status (*eval)(void), uint64_t *ticks) {
    ek_port_inference_pin(1);
    const uint32_t c0 = ek_port_cycles();
    const uint64_t t0 = ek_port_ticks();
    const ek_status s = eval();
    const uint64_t t1 = ek_port_ticks();
    cycles_last = ek_port_cycles() - c0;
    ek_port_inference_pin(0);
    *ticks = t1 - t0;
    return s;
}

static ek_status do_run(uint16_t n, uint16_t *reply_len) {
    if (n != 4 && n != 8) {
        return EK_E_BAD_LENGTH;
    }
    const uint32_t count = get_u32(rx_payload), flags = n == 8 ? get_u32(rx_payload + 4) : 0u;
    if (count == 0 || (flags & ~(uint32_t)EK_RUN_PROFILE) != 0) {
        return EK_E_BAD_ARG;
    }
    if (model_status != EK_OK) {
        return EK_E_NOT_READY;
    }
    if (flags & EK_RUN_PROFILE) {
        profile_clock = ek_port_has_cycle_counter() ? EK_PROFILE_CLOCK_CYCLES : EK_PROFILE_CLOCK_TICKS;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) {
        uint64_t ticks;
        const ek_status s = (flags & EK_RUN_PROFILE) ? timed_run(eval_profiled, &ticks)
                                                     : timed_run(ek_model_eval, &ticks);
        if (s != EK_OK) {
            return s;
        }
        ticks_last = (uint32_t)ticks;
        total += ticks;
        ++runs_done;
    }
    put_u32(tx_payload, ticks_last);
    put_u32(tx_payload + 4, (uint32_t)total);
    put_u32(tx_payload + 8, (uint32_t)(total >> 32));
    put_u32(tx_payload + 12, cycles_last);
    *reply_len = 16;
    return EK_OK;
}

static ek_status do_get_output(uint16_t n, uint16_t *reply_len) {
    if (n != 6) {
        return EK_E_BAD_LENGTH;
    }
    if (!io_ok) {
        return EK_E_NOT_READY;
    }
    const uint32_t offset = get_u32(rx_payload), len = rx_payload[4] | (rx_payload[5] << 8);
    if (offset > ek_model.output_bytes || len > ek_model.output_bytes - offset || len > EK_MAX_PAYLOAD) {
        return EK_E_BAD_ARG;
    }
    copy_packed(ek_model.outputs, ek_model.num_outputs, offset, tx_payload, len, 0);
    *reply_len = (uint16_t)len;
    return EK_OK;
}

static ek_status do_tensors(uint16_t n, uint16_t *reply_len) {
    _Static_assert(EK_TENSORS_PER_REPLY * 4 <= EK_MAX_PAYLOAD, "TENSORS reply too long");
    if (n != 4) {
        return EK_E_BAD_LENGTH;
    }
    if (!io_ok) {
        return EK_E_NOT_READY;
    }
    const uint32_t first = get_u32(rx_payload), all = ek_model.num_inputs + ek_model.num_outputs;
    if (first > all) {
        return EK_E_BAD_ARG;
    }
    const uint32_t count = all - first < EK_TENSORS_PER_REPLY ? all - first : EK_TENSORS_PER_REPLY;
    for (uint32_t i = 0; i < count; ++i) {
        const uint32_t k = first + i;
        put_u32(tx_payload + 4 * i, k < ek_model.num_inputs ? ek_model.inputs[k].bytes
                                                            : ek_model.outputs[k - ek_model.num_inputs].bytes);
    }
    *reply_len = (uint16_t)(4 * count);
    return EK_OK;
}

static ek_status do_profile(uint16_t n, uint16_t *reply_len) {
    _Static_assert(EK_PROFILE_HEADER_BYTES + 4 * EK_PROFILE_PER_REPLY <= EK_MAX_PAYLOAD, "PROFILE reply too long");
    if (n != 4) {
        return EK_E_BAD_LENGTH;
    }
    if (profile_status != EK_OK) {
        return profile_status;
    }
    const uint32_t first = get_u32(rx_payload), all = ek_model_calls;
    if (first > all) {
        return EK_E_BAD_ARG;
    }
    const uint32_t count = all - first < EK_PROFILE_PER_REPLY ? all - first : EK_PROFILE_PER_REPLY;
    put_u32(tx_payload, all);
    put_u32(tx_payload + 4, profile_clock);
    put_u32(tx_payload + 8, first);
    for (uint32_t i = 0; i < count; ++i) {
        put_u32(tx_payload + EK_PROFILE_HEADER_BYTES + 4 * i, ek_model_profile[first + i]);
    }
    *reply_len = (uint16_t)(EK_PROFILE_HEADER_BYTES + 4 * count);
    return EK_OK;
}

static uint16_t do_stats(void) {
    put_u32(tx_payload + 0, ek_model.arena_bytes);
    put_u32(tx_payload + 4, arena_used());
    put_u32(tx_payload + 8, (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit));
    put_u32(tx_payload + 12, stack_peak());
    put_u32(tx_payload + 16, runs_done);
    put_u32(tx_payload + 20, ticks_last);
    put_u32(tx_payload + 24, cycles_last);
    return EK_STATS_BYTES;
}

int main(void) {
    ek_port_init();
    ek_port_inference_pin_init();
    paint();
    io_ok = places_ok(ek_model.inputs, ek_model.num_inputs, ek_model.input_bytes) &&
            places_ok(ek_model.outputs, ek_model.num_outputs, ek_model.output_bytes);
    model_status = io_ok ? ek_model_prepare() : EK_E_BAD_PARAMS;
    for (;;) {
        uint8_t kind, seq;
        uint16_t n = 0, reply_len = 0;
        ek_status s = recv_frame(&kind, &seq, &n);
        if (s == EK_OK) {
            switch (kind) {
            case EK_CMD_INFO: reply_len = do_info(); s = n == 0 ? EK_OK : EK_E_BAD_LENGTH; break;
            case EK_CMD_SET_INPUT: s = do_set_input(n); break;
            case EK_CMD_RUN: s = do_run(n, &reply_len); break;
            case EK_CMD_GET_OUTPUT: s = do_get_output(n, &reply_len); break;
            case EK_CMD_STATS: reply_len = do_stats(); s = n == 0 ? EK_OK : EK_E_BAD_LENGTH; break;
            case EK_CMD_TENSORS: s = do_tensors(n, &reply_len); break;
            case EK_CMD_PROFILE: s = do_profile(n, &reply_len); break;
            default: s = EK_E_UNKNOWN_CMD; break;
            }
        }
        if (s != EK_OK) {
            reply_len = 0;
            /* a model that failed to prepare says why on the first RUN: the kernel's own status */
            if (s == EK_E_NOT_READY && model_status != EK_E_NOT_READY) {
                s = model_status;
            }
        }
        send_frame((uint8_t)s, seq, tx_payload, reply_len);
    }
}
