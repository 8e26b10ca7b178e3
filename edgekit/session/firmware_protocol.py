"""The host side of the firmware's framed serial protocol (the C side is firmware/include/ek_protocol.h and
ek_status.h; tests/session/test_firmware_protocol.py checks the two definitions agree).

Frame, both directions, little endian: magic (0xEB 0x4B) | kind u8 | seq u8 | length u16 | payload | crc32 u32,
the CRC (zlib.crc32) covering kind, seq, length and payload. kind is the command in a request and the status in
a reply; the reply echoes seq.

A model has one or more inputs and outputs. SET_INPUT and GET_OUTPUT address the inputs (outputs) packed one after
another in the .tflite's order; the firmware splits a write or read that spans two tensors. INFO gives the counts
and the totals, TENSORS each tensor's size.
"""
from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

PROTOCOL_VERSION = 2
MAGIC = b"\xeb\x4b"
HEADER_BYTES = 6
CRC_BYTES = 4
MAX_PAYLOAD = 512
INFO_FIXED_BYTES = 30
TENSORS_PER_REPLY = 128
STATS_BYTES = 28
FLAG_CYCCNT = 0x0001
FLAG_READY = 0x0002
RUN_PROFILE = 0x0001          # RUN flag: run the model's profiled eval (a clock reading after each kernel call)
PROFILE_HEADER_BYTES = 12
PROFILE_PER_REPLY = 125
PROFILE_CLOCK_TICKS = 0       # the PROFILE table counts SysTick ticks (QEMU -icount: virtual time)
PROFILE_CLOCK_CYCLES = 1      # ... DWT CYCCNT core cycles


class Cmd(enum.IntEnum):
    INFO = 0x01
    SET_INPUT = 0x02
    RUN = 0x03
    GET_OUTPUT = 0x04
    STATS = 0x05
    TENSORS = 0x06
    PROFILE = 0x07


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_CMD = 3
    BAD_ARG = 4
    NOT_READY = 5
    BAD_PARAMS = 6
    SCRATCH = 7
    UNSUPPORTED = 8
    NO_PROFILE = 9
    PROFILE_FULL = 10


STATUS_MEANING = {
    Status.BAD_CRC: "the frame's CRC did not match (line noise or a baud-rate mismatch)",
    Status.BAD_LENGTH: "a payload of the wrong length",
    Status.UNKNOWN_CMD: "the firmware does not know this command (host and firmware versions differ?)",
    Status.BAD_ARG: "an offset or length outside the tensor",
    Status.NOT_READY: "the model failed to prepare on the device",
    Status.BAD_PARAMS: "a kernel rejected its parameters when the model was prepared",
    Status.SCRATCH: "a kernel needs more scratch memory than the host planned",
    Status.UNSUPPORTED: "an op configuration this firmware does not implement",
    Status.NO_PROFILE: "no profiled inference to report (the firmware's model.c predates profiling?)",
    Status.PROFILE_FULL: "the profiled inference made more kernel calls than the firmware's profile table holds",
}


def encode_frame(kind: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit the 16-bit length field")
    body = struct.pack("<BBH", kind & 0xFF, seq & 0xFF, len(payload)) + payload
    return MAGIC + body + struct.pack("<I", zlib.crc32(body))


@dataclass(frozen=True)
class Frame:
    kind: int
    seq: int
    payload: bytes


class FrameError(Exception):
    """A reply that is not a well-formed frame (bad CRC, impossible length)."""


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, collect complete frames. Bytes before a magic are skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while True:
            start = self._buf.find(MAGIC)
            if start < 0:
                del self._buf[:max(0, len(self._buf) - 1)]  # keep a trailing 0xEB that may start a magic
                return frames
            del self._buf[:start]
            if len(self._buf) < HEADER_BYTES:
                return frames
            kind, seq, length = struct.unpack_from("<BBH", self._buf, 2)
            # A bad frame after good ones in the same call: return the good ones first and leave the bad one in
            # the buffer, so that the next call raises for it.
            if length > MAX_PAYLOAD:
                if frames:
                    return frames
                del self._buf[:2]
                raise FrameError(f"reply frame claims {length} payload bytes (max {MAX_PAYLOAD})")
            total = HEADER_BYTES + length + CRC_BYTES
            if len(self._buf) < total:
                return frames
            body = bytes(self._buf[2:HEADER_BYTES + length])
            (crc,) = struct.unpack_from("<I", self._buf, HEADER_BYTES + length)
            if zlib.crc32(body) != crc:
                if frames:
                    return frames
                del self._buf[:total]
                raise FrameError("reply frame CRC mismatch")
            del self._buf[:total]
            frames.append(Frame(kind, seq, body[4:]))


@dataclass(frozen=True)
class Info:
    protocol: int
    flags: int
    systick_hz: int
    input_bytes: int   # all inputs together
    output_bytes: int  # all outputs together
    arena_bytes: int
    model_id: int
    num_inputs: int
    num_outputs: int
    kernels: str
    core: str
    profile: str = ""  # the profile the firmware was built for ("" from firmware that does not say)

    @property
    def ready(self) -> bool:
        return bool(self.flags & FLAG_READY)

    @property
    def has_cycle_counter(self) -> bool:
        return bool(self.flags & FLAG_CYCCNT)


def parse_info(payload: bytes) -> Info:
    """An INFO reply. Firmware of another protocol version lays it out differently: only `protocol` (the first
    field of every version) is then meaningful, and the caller refuses it."""
    if len(payload) >= 2 and struct.unpack_from("<H", payload)[0] != PROTOCOL_VERSION:
        return Info(struct.unpack_from("<H", payload)[0], 0, 0, 0, 0, 0, 0, 0, 0, "", "")
    if len(payload) < INFO_FIXED_BYTES:
        raise FrameError(f"INFO reply of {len(payload)} bytes, expected at least {INFO_FIXED_BYTES}")
    (proto, flags, hz, in_bytes, out_bytes, arena, mid, n_in, n_out, kernels,
     name_len) = struct.unpack_from("<HHIIIIIHHBB", payload)
    core = payload[INFO_FIXED_BYTES:INFO_FIXED_BYTES + name_len].decode(errors="replace")
    rest = payload[INFO_FIXED_BYTES + name_len:]  # then, length-prefixed, the build's profile name
    profile = rest[1:1 + rest[0]].decode(errors="replace") if rest else ""
    variant = ("reference", "dsp", "mve")[kernels] if kernels < 3 else f"variant {kernels}"  # EK_KERNELS_VARIANT
    return Info(proto, flags, hz, in_bytes, out_bytes, arena, mid, n_in, n_out, variant, core, profile)


@dataclass(frozen=True)
class RunResult:
    ticks_last: int
    ticks_total: int
    cycles_last: int


def parse_run(payload: bytes) -> RunResult:
    if len(payload) != 16:
        raise FrameError(f"RUN reply of {len(payload)} bytes, expected 16")
    last, lo, hi, cycles = struct.unpack("<IIII", payload)
    return RunResult(last, lo | (hi << 32), cycles)


@dataclass(frozen=True)
class Stats:
    arena_bytes: int
    arena_used: int
    stack_bytes: int
    stack_peak: int
    runs: int
    ticks_last: int
    cycles_last: int


def parse_stats(payload: bytes) -> Stats:
    if len(payload) != STATS_BYTES:
        raise FrameError(f"STATS reply of {len(payload)} bytes, expected {STATS_BYTES}")
    return Stats(*struct.unpack("<7I", payload))


def parse_tensors(payload: bytes) -> list[int]:
    """A TENSORS reply: the sizes of the tensors from the requested one on (inputs, then outputs)."""
    if len(payload) % 4 or len(payload) > 4 * TENSORS_PER_REPLY:
        raise FrameError(f"TENSORS reply of {len(payload)} bytes, expected a multiple of 4 up to "
                         f"{4 * TENSORS_PER_REPLY}")
    return list(struct.unpack(f"<{len(payload) // 4}I", payload))


def tensors_payload(first: int) -> bytes:
    return struct.pack("<I", first)


def pieces(total: int, largest: int) -> list[tuple[int, int]]:
    """(offset, length) of the frames that move `total` packed bytes, at most `largest` per frame."""
    return [(off, min(largest, total - off)) for off in range(0, total, largest)]


def set_input_payload(offset: int, data: bytes) -> bytes:
    return struct.pack("<I", offset) + data


def run_payload(count: int, flags: int = 0) -> bytes:
    """A plain RUN is the count alone (what every firmware takes); flags add a second word."""
    return struct.pack("<I", count) + (struct.pack("<I", flags) if flags else b"")


def profile_payload(first: int) -> bytes:
    return struct.pack("<I", first)


@dataclass(frozen=True)
class ProfilePage:
    calls: int          # kernel calls per inference (the whole table)
    clock: int          # PROFILE_CLOCK_TICKS or PROFILE_CLOCK_CYCLES
    first: int          # the call the values start at
    values: list[int]   # clock counts of calls first, first + 1, ...


def parse_profile(payload: bytes) -> ProfilePage:
    """A PROFILE reply: the table's size, its clock and one page of per-call counts."""
    if len(payload) < PROFILE_HEADER_BYTES or (len(payload) - PROFILE_HEADER_BYTES) % 4 or \
            len(payload) > PROFILE_HEADER_BYTES + 4 * PROFILE_PER_REPLY:
        raise FrameError(f"PROFILE reply of {len(payload)} bytes, expected {PROFILE_HEADER_BYTES} + 4 per call")
    calls, clock, first = struct.unpack_from("<III", payload)
    n = (len(payload) - PROFILE_HEADER_BYTES) // 4
    if first + n > calls:
        raise FrameError(f"PROFILE reply lists calls {first}..{first + n - 1} of a table of {calls}")
    return ProfilePage(calls, clock, first, list(struct.unpack_from(f"<{n}I", payload, PROFILE_HEADER_BYTES)))


def get_output_payload(offset: int, length: int) -> bytes:
    return struct.pack("<IH", offset, length)
