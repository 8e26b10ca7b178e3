"""The protocol is defined twice, in firmware/include/*.h and edgekit/session/firmware_protocol.py: they must agree. The CRC
is checked across the two implementations by compiling the firmware's CRC for this host."""
import ctypes
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from edgekit.session import firmware_protocol as P
from edgekit.export.mcu.build import FIRMWARE_DIR


def _defines(header: str) -> dict[str, int]:
    text = (FIRMWARE_DIR / "include" / header).read_text()
    return {m.group(1): int(m.group(2), 0) for m in re.finditer(r"#define\s+(EK_\w+)\s+(0x[0-9A-Fa-f]+|\d+)\b", text)}


def test_header_and_python_agree():
    proto, status = _defines("ek_protocol.h"), _defines("ek_status.h")
    assert proto["EK_PROTOCOL_VERSION"] == P.PROTOCOL_VERSION
    assert bytes([proto["EK_MAGIC0"], proto["EK_MAGIC1"]]) == P.MAGIC
    for name in ("HEADER_BYTES", "CRC_BYTES", "MAX_PAYLOAD", "INFO_FIXED_BYTES", "STATS_BYTES", "FLAG_CYCCNT",
                 "FLAG_READY", "TENSORS_PER_REPLY"):
        assert proto[f"EK_{name}"] == getattr(P, name), name
    commands = {k.removeprefix("EK_CMD_"): v for k, v in proto.items() if k.startswith("EK_CMD_")}
    assert commands == {c.name: c.value for c in P.Cmd}
    codes = {k.removeprefix("EK_E_").removeprefix("EK_"): v for k, v in status.items()}
    assert codes == {s.name: s.value for s in P.Status}
    assert set(P.STATUS_MEANING) == set(P.Status) - {P.Status.OK}


def test_frame_round_trip_and_resync():
    frames = [P.encode_frame(P.Cmd.RUN, 7, struct.pack("<I", 3)), P.encode_frame(0, 8, bytes(range(200)))]
    dec = P.FrameDecoder()
    stream = b"\x00garbage\xeb" + frames[0] + b"\xeb\x00" + frames[1]
    got = []
    for i in range(0, len(stream), 5):  # arrives in small pieces
        got += dec.feed(stream[i:i + 5])
    assert [(f.kind, f.seq, f.payload) for f in got] == [(P.Cmd.RUN, 7, struct.pack("<I", 3)), (0, 8, bytes(range(200)))]


def test_decoder_rejects_corruption():
    frame = bytearray(P.encode_frame(0, 1, b"hello"))
    frame[8] ^= 0x01
    with pytest.raises(P.FrameError, match="CRC"):
        P.FrameDecoder().feed(bytes(frame))
    too_long = P.MAGIC + struct.pack("<BBH", 0, 1, P.MAX_PAYLOAD + 1)
    with pytest.raises(P.FrameError, match="payload bytes"):
        P.FrameDecoder().feed(too_long)


def test_parse_replies():
    info = struct.pack("<HHIIIIIHHBB", 2, P.FLAG_READY, 25_000_000, 64, 10, 3072, 0xDEADBEEF, 2, 3, 1, 9) + b"cortex-m4"
    parsed = P.parse_info(info + b"\x03emu")
    assert (parsed.core, parsed.kernels, parsed.ready, parsed.has_cycle_counter) == ("cortex-m4", "dsp", True, False)
    assert (parsed.num_inputs, parsed.num_outputs, parsed.input_bytes, parsed.profile) == (2, 3, 64, "emu")
    assert P.parse_info(struct.pack("<HH", 1, 0) + bytes(40)).protocol == 1  # an older firmware: only its version
    assert P.parse_tensors(struct.pack("<3I", 5, 6, 7)) == [5, 6, 7]
    with pytest.raises(P.FrameError):
        P.parse_tensors(b"\x00" * 6)
    assert P.pieces(1020, 508) == [(0, 508), (508, 508), (1016, 4)] and P.pieces(0, 508) == []
    assert P.parse_run(struct.pack("<IIII", 5, 10, 1, 0)).ticks_total == 10 + (1 << 32)
    with pytest.raises(P.FrameError):
        P.parse_stats(b"\x00" * 3)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_firmware_crc_equals_zlib(tmp_path):
    lib = tmp_path / "libcrc.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", f"-I{FIRMWARE_DIR / 'agent'}",
                    str(FIRMWARE_DIR / "agent" / "ek_crc32.c"), "-o", str(lib)], check=True)
    crc = ctypes.CDLL(str(lib)).ek_crc32_update
    crc.restype, crc.argtypes = ctypes.c_uint32, [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    for data in (b"", b"a", b"123456789", bytes(range(256)) * 3):
        assert crc(0, data, len(data)) == zlib.crc32(data)
    assert crc(crc(0, b"12345", 5), b"6789", 4) == zlib.crc32(b"123456789")  # fed in pieces
