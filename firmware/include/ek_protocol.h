/* The framed serial protocol between the host and the MCU agent: defined once for C (here) and once for Python
 * (edgekit/session/firmware_protocol.py); tests/session/test_firmware_protocol.py parses this header and checks both agree.
 *
 * Frame (little endian), both directions:
 *   magic0 magic1 | kind u8 | seq u8 | length u16 | payload[length] | crc32 u32
 * kind is the command id in a request and the status code (ek_status.h) in the reply; the reply echoes seq.
 * crc32 is the IEEE 802.3 CRC (zlib.crc32) over kind, seq, length and payload.
 *
 * A model has one or more inputs and outputs (ek_model.h). SET_INPUT and GET_OUTPUT address the inputs (outputs)
 * packed one after another in the .tflite's order: input 0's bytes, then input 1's, ... (input_bytes in all). The
 * agent splits a write or read that spans two tensors, each piece bounds-checked against its tensor.
 */
#ifndef EK_PROTOCOL_H
#define EK_PROTOCOL_H

#define EK_PROTOCOL_VERSION 2

#define EK_MAGIC0 0xEB
#define EK_MAGIC1 0x4B
#define EK_HEADER_BYTES 6   /* magic0 magic1 kind seq length(2) */
#define EK_CRC_BYTES 4
#define EK_MAX_PAYLOAD 512  /* longer frames are rejected with EK_E_BAD_LENGTH */

/* Commands. Payloads: requests -> replies. */
#define EK_CMD_INFO       0x01  /* -> ek_info_reply (EK_INFO_FIXED_BYTES + names) */
#define EK_CMD_SET_INPUT  0x02  /* offset u32 (into the packed inputs), bytes -> nothing */
#define EK_CMD_RUN        0x03  /* count u32 [flags u32] -> ticks_last u32, ticks_total u64 (n runs), cycles_last u32 */
#define EK_CMD_GET_OUTPUT 0x04  /* offset u32 (into the packed outputs), length u16 -> bytes */
#define EK_CMD_STATS      0x05  /* -> ek_stats_reply (EK_STATS_BYTES) */
#define EK_CMD_TENSORS    0x06  /* first u32 -> bytes u32 of tensors first, first + 1, ... (the inputs, then the
                                 * outputs; at most EK_TENSORS_PER_REPLY, fewer at the end; none when first is the
                                 * count of all tensors; first beyond it is EK_E_BAD_ARG) */
#define EK_CMD_PROFILE    0x07  /* first u32 -> the last profiled inference's per-kernel-call table (below) */

/* RUN flags (the optional second word of a RUN request; a RUN without it is a plain run). With EK_RUN_PROFILE the
 * agent runs ek_model_eval_profiled (ek_model.h), which reads the clock between kernel calls, so a plain RUN
 * measures exactly what it measured before profiling existed. Unknown bits are EK_E_BAD_ARG. */
#define EK_RUN_PROFILE 0x0001

/* PROFILE reply: calls u32 (kernel calls per inference), clock u32 (EK_PROFILE_CLOCK_*), first u32, then the clock
 * counts u32 of calls first, first + 1, ... of the last profiled inference (at most EK_PROFILE_PER_REPLY, fewer at
 * the end; none when first is the number of calls; first beyond it is EK_E_BAD_ARG). No profiled inference yet:
 * EK_E_NO_PROFILE; one that made more calls than the table holds: EK_E_PROFILE_FULL. */
#define EK_PROFILE_HEADER_BYTES 12
#define EK_PROFILE_PER_REPLY 125
#define EK_PROFILE_CLOCK_TICKS 0   /* SysTick ticks (the port's tick clock; under QEMU -icount, virtual time) */
#define EK_PROFILE_CLOCK_CYCLES 1  /* DWT CYCCNT core cycles */

/* INFO reply: protocol u16, flags u16 (EK_FLAG_*), systick_hz u32, input_bytes u32 (all inputs),
 * output_bytes u32 (all outputs), arena_bytes u32, model_id u32 (first 4 bytes of the .tflite sha256),
 * num_inputs u16, num_outputs u16, kernels u8 (0 reference, 1 DSP), name_len u8, name[name_len] (the core, e.g.
 * "cortex-m4"), then profile_len u8, profile[profile_len] (the device profile the image was built for, e.g.
 * "emu-cortex-m4"). */
#define EK_INFO_FIXED_BYTES 30

/* TENSORS reply: the sizes of up to this many tensors (4 bytes each, within EK_MAX_PAYLOAD). */
#define EK_TENSORS_PER_REPLY 128

/* STATS reply: arena_bytes u32 (planned), arena_used u32 (high-water by painting), stack_bytes u32 (size),
 * stack_peak u32 (high-water by painting), runs u32, ticks_last u32, cycles_last u32. */
#define EK_STATS_BYTES 28

#define EK_FLAG_CYCCNT 0x0001  /* the core has a running DWT cycle counter */
#define EK_FLAG_READY 0x0002   /* the model prepared without error */

#endif
