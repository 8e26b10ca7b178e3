/* libFuzzer harness for the MCU agent (firmware/agent/ek_agent.c): its frame parser (recv_frame) and command
 * handlers, built for the host with AddressSanitizer and UndefinedBehaviorSanitizer. bench/bench_fuzz.py builds
 * and runs it (tests/bench/test_fuzz.py for a short run):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ifirmware/include \
 *         -Ifirmware/agent [-DEK_FUZZ_FRAMED=1] firmware/tests/fuzz_agent.c firmware/agent/ek_crc32.c -o fuzz_agent
 *
 * ek_agent.c is compiled unchanged, #included below so the harness can reset its static state between inputs.
 * The host port here feeds the fuzz input to ek_port_getc() and longjmp()s back to the fuzz entry when it runs
 * out (the agent's main loop never returns); ek_port_write() collects the replies and checks every reply frame
 * as it completes (magic, length <= EK_MAX_PAYLOAD, CRC by an independent bitwise CRC-32, a known status, no
 * payload on an error), that the model arena outside the input, output and scratch regions is never written,
 * and, for well-framed request streams, the reply against a reference model of the protocol (below): the stub model
 * has two inputs and two outputs placed apart in the arena, so writes and reads spanning two tensors are checked. Any
 * violation prints why and abort()s, which libFuzzer reports as a crash.
 *
 * Input layout. Byte 0 configures the stub model: bits 0-1 the status ek_model_prepare returns (OK, OK,
 * EK_E_BAD_PARAMS, EK_E_UNSUPPORTED), bit 2 ek_model_eval fails with EK_E_SCRATCH, bit 3 the port reports a
 * cycle counter, bit 4 the profiled eval marks one call more than the model's profile table holds. The rest
 * depends on the build:
 *   raw (default)        the bytes go to the agent as they are;
 *   framed (EK_FUZZ_FRAMED=1)  a sequence of records the harness turns into bytes:
 *       tag < 0x80:  a request frame of kind `tag`: seq u8, length u16 LE, then `length` payload bytes (fewer if
 *                    the input ends: the frame carries what there is). The harness adds magic and a correct CRC.
 *       tag >= 0x80: (tag & 0x7F) + 1 raw bytes, fed as they are (noise, partial frames, bad CRCs, stray magic).
 * Why the framed mode rather than a custom mutator: every frame ends in a CRC-32 over its header and payload,
 * so a mutation of a raw frame's payload almost always turns it into a BAD_CRC reply: in raw mode the handlers
 * mostly see the seed frames' own arguments (bench/results/fuzz.json, "mutants": in 200,000 executions the raw
 * mode misses deliberate bugs in SET_INPUT, GET_OUTPUT and RUN that the framed mode finds). Records framed by the
 * harness reach every command handler with arbitrary payloads while the raw records still mix in malformed
 * bytes; it needs no libFuzzer-specific mutator code (the same entry point runs under AFL++), and a crashing
 * input stays a plain file that reproduces with `./fuzz_agent_framed crash-...`. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_crc32.h"
#include "ek_model.h"
#include "ek_port.h"
#include "ek_protocol.h"
#include "ek_status.h"

#ifndef EK_FUZZ_FRAMED
#define EK_FUZZ_FRAMED 0
#endif
/* Board facts the firmware build passes as -D (device profile); any values do on the host. */
#define EK_SYSTICK_HZ 25000000
#define EK_KERNELS_VARIANT 0
#define EK_CORE_NAME "host-fuzz"
#define EK_PROFILE_NAME "host-fuzz-profile"

#define HOST_STACK_WORDS 1024u
#define HOST_FRAME_WORDS 64u /* where the simulated stack pointer sits below __stack_top */

/* paint() reads the stack pointer with a Cortex-M instruction, `__asm volatile("mov %0, sp" : "=r"(sp));`. For
 * the host build that one statement becomes `(sp = host_sp());`: __asm expands to nothing and the function-like
 * macro `volatile` (only a `volatile` followed by '(' expands, and ek_agent.c has no other) to the assignment.
 * The simulated stack is an array between __stack_limit and __stack_top, which the agent paints and measures. */
static uint32_t *host_sp(void);
#define __asm
#define volatile(...) (sp = host_sp())
#define main ek_agent_main
#ifdef EK_FUZZ_AGENT_SOURCE /* a path string: tests build a deliberately broken copy to see the harness catch it */
#include EK_FUZZ_AGENT_SOURCE
#else
#include "../agent/ek_agent.c"
#endif
#undef main
#undef volatile
#undef __asm

/* ---- the simulated stack: __stack_top is the end of the __stack_limit array --------------------------------- */
uint32_t __stack_limit[HOST_STACK_WORDS] __attribute__((aligned(16)));
__asm__(".globl __stack_top\n.set __stack_top, __stack_limit + 4096\n");
_Static_assert(HOST_STACK_WORDS * 4 == 4096, "keep the .set above in step with HOST_STACK_WORDS");

static uint32_t *host_sp(void) { return __stack_limit + HOST_STACK_WORDS - HOST_FRAME_WORDS; }

/* ---- the stub model: two inputs, two outputs; packed output[i] = packed input[i % input_bytes] ^ 0x5A --------
 * Arena layout: input 1 [0, 400), gap [400, 420), input 0 [420, 720), gap [720, 768), output 0 [768, 1000),
 * gap [1000, 1024), output 1 [1024, 1392), scratch [1392, 1424), untouched [1424, 2048). The packed inputs are
 * input 0's 300 bytes then input 1's 400 (700 in all), the packed outputs 232 + 368 (600 in all): SET_INPUT and
 * GET_OUTPUT need offsets (totals above EK_MAX_PAYLOAD), a frame may span two tensors (the agent splits it), and
 * the arena is exactly arena_bytes long: a write past it is an ASan error, a write into a gap or the tail is
 * caught by check_arena_guards(). */
#define ARENA_BYTES 2048u
#define IN_BYTES 700u
#define OUT_BYTES 600u
#define SCRATCH_OFF 1392u
#define SCRATCH_BYTES 32u
#define EVAL_BUDGET 256u /* evaluations per input; see ek_model_eval */
#define STUB_CALLS 130u  /* kernel calls of the stub's profiled eval: more than one PROFILE reply holds */

static const ek_tensor_place stub_inputs[2] = {{420u, 300u}, {0u, 400u}};
static const ek_tensor_place stub_outputs[2] = {{768u, 232u}, {1024u, 368u}};
const ek_model_info ek_model = {.model_id = 0x1234ABCDu, .arena_bytes = ARENA_BYTES, .num_inputs = 2u,
                                .num_outputs = 2u, .inputs = stub_inputs, .outputs = stub_outputs,
                                .input_bytes = IN_BYTES, .output_bytes = OUT_BYTES};
int8_t ek_arena[ARENA_BYTES] __attribute__((aligned(16)));

/* The arena byte of packed byte `i` of the tensors `t` (their sizes add up past i). */
static uint32_t packed_at(const ek_tensor_place *t, uint32_t i) {
    while (i >= t->bytes) {
        i -= t->bytes;
        ++t;
    }
    return t->offset + i;
}

static jmp_buf input_done;
static ek_status cfg_prepare_status, cfg_eval_status;
static int cfg_cycle_counter, cfg_profile_overflow;
static uint32_t evals;
static uint64_t fake_ticks;
static uint32_t fake_cycles;

ek_status ek_model_prepare(void) { return cfg_prepare_status; }

ek_status ek_model_eval(void) {
    /* A RUN's count is a u32: 4e9 evaluations are a legitimate (long) command on a device but would stall the
     * fuzzer, so past EVAL_BUDGET evaluations in one input the harness ends that input here, as if the link
     * went quiet (the reply of that RUN is not checked; everything before it was). */
    if (++evals > EVAL_BUDGET) {
        longjmp(input_done, 1);
    }
    if (cfg_eval_status != EK_OK) {
        return cfg_eval_status;
    }
    for (uint32_t i = 0; i < OUT_BYTES; ++i) {
        ek_arena[packed_at(stub_outputs, i)] = (int8_t)(ek_arena[packed_at(stub_inputs, i % IN_BYTES)] ^ 0x5A);
    }
    for (uint32_t i = 0; i < SCRATCH_BYTES; ++i) {
        ek_arena[SCRATCH_OFF + i] = (int8_t)i;
    }
    return EK_OK;
}

/* The profiling half of ek_model.h: the stub's inference, then one mark per call (one more with bit 4 of byte 0).
 * Nothing reads the clock between two marks, so every slot holds one step of the fake clock (3 ticks, 7 cycles). */
const uint32_t ek_model_calls = STUB_CALLS;
uint32_t ek_model_profile[STUB_CALLS];

ek_status ek_model_eval_profiled(ek_profile_mark_fn mark) {
    mark(EK_PROFILE_START);
    const ek_status s = ek_model_eval();
    if (s != EK_OK) {
        return s;
    }
    for (uint32_t k = 0; k < STUB_CALLS + (cfg_profile_overflow ? 1u : 0u); ++k) {
        mark(k);
    }
    return EK_OK;
}

/* ---- the host port ------------------------------------------------------------------------------------------ */
static const uint8_t *feed;
static size_t feed_len, feed_pos;

void ek_port_init(void) {}

uint8_t ek_port_getc(void) {
    if (feed_pos >= feed_len) {
        longjmp(input_done, 1);
    }
    return feed[feed_pos++];
}

uint64_t ek_port_ticks(void) { return fake_ticks += 3; }
uint32_t ek_port_cycles(void) { return cfg_cycle_counter ? (fake_cycles += 7) : 0; }
int ek_port_has_cycle_counter(void) { return cfg_cycle_counter; }
void ek_port_inference_pin_init(void) {}
void ek_port_inference_pin(int high) { (void)high; }

static void fail(const char *why, unsigned long a, unsigned long b) {
    fprintf(stderr, "fuzz_agent: %s (%lu, %lu)\n", why, a, b);
    abort();
}

void ek_port_fault(uint32_t code) { fail("ek_port_fault", code, 0); }

/* ---- the reference model: what a reply to each request of a well-framed stream must be ----------------------- */
typedef struct {
    uint8_t kind, seq;
    uint16_t n;
    const uint8_t *payload;
} request;

#define MAX_REQUESTS 8192u
static request requests[MAX_REQUESTS];
static size_t n_requests, n_replies;
static int reference_on; /* only for streams of harness-framed requests with payloads <= EK_MAX_PAYLOAD */
static uint8_t ref_input[IN_BYTES], ref_output[OUT_BYTES];
static uint32_t ref_runs;
static ek_status ref_profile; /* what PROFILE must answer: EK_E_NO_PROFILE until a profiled RUN completes */
static uint32_t ref_clock;

static uint32_t rd32(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

static void check_against_reference(const request *rq, uint8_t status, uint8_t seq, const uint8_t *pl, uint16_t n) {
    ek_status want = EK_OK;
    uint16_t want_len = 0;
    switch (rq->kind) {
    case EK_CMD_INFO: {
        /* the core name, then (protocol with profiles) the profile name, each after its length byte */
        const uint16_t core_end = (uint16_t)(EK_INFO_FIXED_BYTES + sizeof EK_CORE_NAME - 1);
        want = rq->n == 0 ? EK_OK : EK_E_BAD_LENGTH;
        want_len = n > core_end ? (uint16_t)(core_end + 1 + sizeof EK_PROFILE_NAME - 1) : core_end;
        if (want == EK_OK && n == want_len) {
            if (rd32(pl + 8) != IN_BYTES || rd32(pl + 12) != OUT_BYTES || rd32(pl + 16) != ARENA_BYTES ||
                rd32(pl + 20) != ek_model.model_id || rd32(pl + 24) != (2u | (2u << 16)) ||
                pl[29] != sizeof EK_CORE_NAME - 1 || memcmp(pl + EK_INFO_FIXED_BYTES, EK_CORE_NAME, pl[29]) != 0 ||
                (n > core_end && (pl[core_end] != sizeof EK_PROFILE_NAME - 1 ||
                                  memcmp(pl + core_end + 1, EK_PROFILE_NAME, pl[core_end]) != 0)) ||
                ((pl[2] & EK_FLAG_READY) != 0) != (cfg_prepare_status == EK_OK)) {
                fail("INFO reply disagrees with the model and the build", n, 0);
            }
        }
        break;
    }
    case EK_CMD_SET_INPUT:
        if (rq->n < 4) {
            want = EK_E_BAD_LENGTH;
        } else {
            const uint64_t off = rd32(rq->payload), len = rq->n - 4u;
            want = off + len <= IN_BYTES ? EK_OK : EK_E_BAD_ARG;
            if (want == EK_OK) {
                memcpy(ref_input + off, rq->payload + 4, len);
            }
        }
        break;
    case EK_CMD_RUN: {
        const uint32_t flags = rq->n == 8 ? rd32(rq->payload + 4) : 0u;
        if (rq->n != 4 && rq->n != 8) {
            want = EK_E_BAD_LENGTH;
        } else if (rd32(rq->payload) == 0 || (flags & ~(uint32_t)EK_RUN_PROFILE) != 0) {
            want = EK_E_BAD_ARG;
        } else if (cfg_prepare_status != EK_OK) {
            want = cfg_prepare_status;
        } else if (cfg_eval_status != EK_OK) {
            want = cfg_eval_status;
            if (flags & EK_RUN_PROFILE) {
                ref_profile = EK_E_NO_PROFILE; /* a failed profiled run leaves no table */
            }
        } else {
            want_len = 16;
            ref_runs += rd32(rq->payload);
            for (uint32_t i = 0; i < OUT_BYTES; ++i) {
                ref_output[i] = ref_input[i % IN_BYTES] ^ 0x5A;
            }
            if (flags & EK_RUN_PROFILE) {
                ref_profile = cfg_profile_overflow ? EK_E_PROFILE_FULL : EK_OK;
                ref_clock = cfg_cycle_counter ? EK_PROFILE_CLOCK_CYCLES : EK_PROFILE_CLOCK_TICKS;
            }
        }
        break;
    }
    case EK_CMD_PROFILE:
        if (rq->n != 4) {
            want = EK_E_BAD_LENGTH;
        } else if (ref_profile != EK_OK) {
            want = ref_profile;
        } else {
            const uint32_t first = rd32(rq->payload);
            const uint32_t count = first <= STUB_CALLS && STUB_CALLS - first < EK_PROFILE_PER_REPLY
                                       ? STUB_CALLS - first : EK_PROFILE_PER_REPLY;
            want = first <= STUB_CALLS ? EK_OK : EK_E_BAD_ARG;
            want_len = (uint16_t)(EK_PROFILE_HEADER_BYTES + 4 * count);
            if (want == EK_OK && n == want_len &&
                (rd32(pl) != STUB_CALLS || rd32(pl + 4) != ref_clock || rd32(pl + 8) != first)) {
                fail("PROFILE reply header disagrees with the model (calls, first)", rd32(pl), rd32(pl + 8));
            }
            for (uint32_t i = 0; want == EK_OK && n == want_len && i < count; ++i) {
                if (rd32(pl + EK_PROFILE_HEADER_BYTES + 4 * i) != (ref_clock ? 7u : 3u)) {
                    fail("PROFILE reply holds a count other than one clock step (call, count)", first + i,
                         rd32(pl + EK_PROFILE_HEADER_BYTES + 4 * i));
                }
            }
        }
        break;
    case EK_CMD_GET_OUTPUT:
        if (rq->n != 6) {
            want = EK_E_BAD_LENGTH;
        } else {
            const uint64_t off = rd32(rq->payload), len = rq->payload[4] | (rq->payload[5] << 8);
            want = off + len <= OUT_BYTES && len <= EK_MAX_PAYLOAD ? EK_OK : EK_E_BAD_ARG;
            want_len = (uint16_t)len;
            if (want == EK_OK && n == len && memcmp(pl, ref_output + off, len) != 0) {
                fail("GET_OUTPUT bytes differ from the reference", off, len);
            }
        }
        break;
    case EK_CMD_TENSORS:
        if (rq->n != 4) {
            want = EK_E_BAD_LENGTH;
        } else {
            static const uint32_t sizes[4] = {300u, 400u, 232u, 368u};
            const uint32_t first = rd32(rq->payload);
            want = first <= 4 ? EK_OK : EK_E_BAD_ARG;
            want_len = (uint16_t)(want == EK_OK ? 4 * (4 - first) : 0);
            for (uint32_t i = 0; want == EK_OK && n == want_len && i < 4 - first; ++i) {
                if (rd32(pl + 4 * i) != sizes[first + i]) {
                    fail("TENSORS reply disagrees with the model (tensor, bytes)", first + i, rd32(pl + 4 * i));
                }
            }
        }
        break;
    case EK_CMD_STATS:
        want = rq->n == 0 ? EK_OK : EK_E_BAD_LENGTH;
        want_len = EK_STATS_BYTES;
        if (want == EK_OK && n == EK_STATS_BYTES) {
            if (rd32(pl) != ARENA_BYTES || rd32(pl + 4) > ARENA_BYTES || rd32(pl + 8) != HOST_STACK_WORDS * 4 ||
                rd32(pl + 12) > HOST_STACK_WORDS * 4 || rd32(pl + 16) != ref_runs) {
                fail("STATS reply disagrees with the reference (runs, reference runs)", rd32(pl + 16), ref_runs);
            }
        }
        break;
    default: want = EK_E_UNKNOWN_CMD; break;
    }
    if (want != EK_OK) {
        want_len = 0;
    }
    if (seq != rq->seq) {
        fail("reply seq does not echo the request", seq, rq->seq);
    }
    if (status != (uint8_t)want || n != want_len) {
        fprintf(stderr, "request kind %u, %u payload bytes: reply status %u length %u, reference %u length %u\n",
                rq->kind, rq->n, status, n, (unsigned)want, want_len);
        fail("reply (status, length) differs from the reference", status, (unsigned long)want);
    }
}

/* ---- reply checks ------------------------------------------------------------------------------------------- */
static uint8_t reply[EK_HEADER_BYTES + EK_MAX_PAYLOAD + EK_CRC_BYTES];
static size_t reply_have;

static uint32_t crc32_bitwise(const uint8_t *p, size_t n) { /* independent of ek_crc32.c's table */
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static void check_arena_guards(void) {
    static const struct { uint32_t from, to; } guards[] = {{400u, 420u}, {720u, 768u}, {1000u, 1024u},
                                                           {SCRATCH_OFF + SCRATCH_BYTES, ARENA_BYTES}};
    for (size_t g = 0; g < sizeof guards / sizeof guards[0]; ++g) {
        for (uint32_t i = guards[g].from; i < guards[g].to; ++i) {
            if ((uint8_t)ek_arena[i] != 0xA5) {
                fail("arena written outside the input, output and scratch regions at byte", i, (uint8_t)ek_arena[i]);
            }
        }
    }
}

static void check_reply_frame(void) {
    const uint16_t n = (uint16_t)(reply[4] | (reply[5] << 8));
    const uint8_t status = reply[2], seq = reply[3];
    if (crc32_bitwise(reply + 2, EK_HEADER_BYTES - 2u + n) != rd32(reply + EK_HEADER_BYTES + n)) {
        fail("reply CRC wrong", n, 0);
    }
    if (status > EK_E_PROFILE_FULL) {
        fail("reply status is not a known ek_status", status, 0);
    }
    if (status != EK_OK && n != 0) {
        fail("error reply carries a payload", status, n);
    }
    check_arena_guards();
    if (reference_on) {
        if (n_replies >= n_requests) {
            fail("more replies than requests", n_replies + 1, n_requests);
        }
        check_against_reference(&requests[n_replies], status, seq, reply + EK_HEADER_BYTES, n);
    }
    ++n_replies;
}

void ek_port_write(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (reply_have >= sizeof reply) {
            fail("reply frame longer than the largest possible frame", reply_have, 0);
        }
        reply[reply_have++] = data[i];
        if (reply_have == 2 && (reply[0] != EK_MAGIC0 || reply[1] != EK_MAGIC1)) {
            fail("reply frame without magic", reply[0], reply[1]);
        }
        if (reply_have >= EK_HEADER_BYTES) {
            const size_t len = reply[4] | (reply[5] << 8);
            if (len > EK_MAX_PAYLOAD) {
                fail("reply frame length over EK_MAX_PAYLOAD", len, 0);
            }
            if (reply_have == EK_HEADER_BYTES + len + EK_CRC_BYTES) {
                check_reply_frame();
                reply_have = 0;
            }
        }
    }
}

/* ---- the fuzz entry ----------------------------------------------------------------------------------------- */
#if EK_FUZZ_FRAMED
#define STREAM_CAP (1u << 20)
static uint8_t stream[STREAM_CAP];

/* Turns records into the byte stream fed to the agent; records the requests for the reference model. */
static size_t build_stream(const uint8_t *in, size_t size) {
    size_t pos = 0, out = 0;
    reference_on = 1;
    while (pos < size) {
        const uint8_t tag = in[pos++];
        if (tag >= 0x80) {
            size_t k = (size_t)(tag & 0x7F) + 1;
            k = k < size - pos ? k : size - pos;
            if (out + k > STREAM_CAP) {
                break;
            }
            memcpy(stream + out, in + pos, k);
            out += k;
            pos += k;
            reference_on = 0;
            continue;
        }
        if (size - pos < 3) {
            break;
        }
        const uint8_t seq = in[pos];
        size_t n = in[pos + 1] | (in[pos + 2] << 8);
        pos += 3;
        n = n < size - pos ? n : size - pos;
        if (out + EK_HEADER_BYTES + n + EK_CRC_BYTES > STREAM_CAP || n_requests == MAX_REQUESTS) {
            break;
        }
        uint8_t *f = stream + out;
        f[0] = EK_MAGIC0;
        f[1] = EK_MAGIC1;
        f[2] = tag;
        f[3] = seq;
        f[4] = (uint8_t)n;
        f[5] = (uint8_t)(n >> 8);
        memcpy(f + EK_HEADER_BYTES, in + pos, n);
        const uint32_t crc = crc32_bitwise(f + 2, EK_HEADER_BYTES - 2u + n);
        put_u32(f + EK_HEADER_BYTES + n, crc);
        requests[n_requests++] = (request){tag, seq, (uint16_t)n, f + EK_HEADER_BYTES};
        if (n > EK_MAX_PAYLOAD) {
            reference_on = 0; /* the agent skips such a payload by hunting for magic, which it may contain */
        }
        out += EK_HEADER_BYTES + n + EK_CRC_BYTES;
        pos += n;
    }
    return out;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) {
        return 0;
    }
    static const ek_status prepare_statuses[4] = {EK_OK, EK_OK, EK_E_BAD_PARAMS, EK_E_UNSUPPORTED};
    cfg_prepare_status = prepare_statuses[data[0] & 3];
    cfg_eval_status = data[0] & 4 ? EK_E_SCRATCH : EK_OK;
    cfg_cycle_counter = (data[0] >> 3) & 1;
    cfg_profile_overflow = (data[0] >> 4) & 1;

    /* Fresh state for every input, as after a reset: ek_agent.c's statics (zero-initialised in .bss on the
     * device) back to their initial values, then its main() runs its own init (port, paint, prepare). */
    memset(rx_payload, 0, sizeof rx_payload);
    memset(tx_payload, 0, sizeof tx_payload);
    model_status = EK_E_NOT_READY;
    runs_done = ticks_last = cycles_last = 0;
    profile_status = EK_E_NO_PROFILE;
    profile_last = profile_overflow = profile_clock = 0;
    memset(ek_model_profile, 0, sizeof ek_model_profile);
    memset(ek_arena, 0, sizeof ek_arena);
    memset(__stack_limit, 0, sizeof __stack_limit);
    evals = 0;
    fake_ticks = 0;
    fake_cycles = 0;
    reply_have = 0;
    n_requests = n_replies = 0;
    reference_on = 0;
    ref_runs = 0;
    ref_profile = EK_E_NO_PROFILE;
    ref_clock = 0;
    memset(ref_input, 0xA5, sizeof ref_input);  /* paint() fills the whole arena with 0xA5 */
    memset(ref_output, 0xA5, sizeof ref_output);

#if EK_FUZZ_FRAMED
    feed = stream;
    feed_len = build_stream(data + 1, size - 1);
#else
    feed = data + 1;
    feed_len = size - 1;
#endif
    feed_pos = 0;
    if (setjmp(input_done) == 0) {
        ek_agent_main();
    }
    if (reply_have != 0) {
        fail("input ended inside a reply frame", reply_have, 0);
    }
    /* A RUN that hit EVAL_BUDGET ended the input before its reply; otherwise every framed request got one. */
    if (reference_on && evals <= EVAL_BUDGET && n_replies != n_requests) {
        fail("replies != requests", n_replies, n_requests);
    }
    return 0;
}
