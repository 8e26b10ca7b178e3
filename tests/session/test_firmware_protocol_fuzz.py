"""Fuzzing the host's frame decoder (edgekit/session/firmware_protocol.py FrameDecoder.feed) with hypothesis.

Whatever bytes arrive, in whatever chunks: feed() returns frames or raises FrameError, nothing else; every frame it
returns was really on the wire with a correct CRC (its encoding is a substring of the stream) and a payload of at
most MAX_PAYLOAD bytes; its buffer stays under one frame; the decoder keeps working after an error; valid frames
come out exactly as sent; and with bytes flipped, every frame wholly before the first flip still comes out.
Deterministic (derandomize=True), a few seconds.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.session import firmware_protocol as P

FUZZ = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_FRAME = P.HEADER_BYTES + P.MAX_PAYLOAD + P.CRC_BYTES

frames = st.builds(P.Frame, st.integers(0, 255), st.integers(0, 255),
                   st.binary(max_size=24) | st.binary(min_size=P.MAX_PAYLOAD - 2, max_size=P.MAX_PAYLOAD))
# Random bytes rich in what the decoder looks for: magic bytes, headers with short lengths (then any 4 bytes pass
# for a CRC only if the decoder forgets to check it), lengths around MAX_PAYLOAD, and frames over MAX_PAYLOAD with
# a correct CRC (which must still be refused).
headers = st.builds(lambda k, s, n: P.MAGIC + bytes([k, s]) + n.to_bytes(2, "little"), st.integers(0, 255),
                    st.integers(0, 255), st.integers(0, 4) | st.integers(P.MAX_PAYLOAD - 1, P.MAX_PAYLOAD + 2))
oversized = st.binary(min_size=P.MAX_PAYLOAD + 1, max_size=P.MAX_PAYLOAD + 3).map(lambda p: P.encode_frame(0, 0, p))
noise = st.lists(st.binary(max_size=12) | headers | oversized |
                 st.sampled_from([P.MAGIC, P.MAGIC[:1], b"\x00\x02", b"\x01\x02", b"\xff\xff"]),
                 max_size=24).map(b"".join)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])] or [b""]


def decode(stream: bytes, cuts: list[int]) -> tuple[list[P.Frame], int]:
    """Feed `stream` in the chunks `cuts` makes; the frames that came out and how many FrameErrors were raised."""
    decoder, out, errors = P.FrameDecoder(), [], 0
    for chunk in chunked(stream, cuts):
        pending = chunk
        while True:  # after an error, or good frames (a bad one may be held back), feed nothing to go on
            try:
                got = decoder.feed(pending)
            except P.FrameError:
                errors += 1
                got = [None]
            out += [f for f in got if f is not None]
            pending = b""
            if not got:
                break
            assert errors <= len(stream), "the decoder raises forever on the same bytes"
        buf = bytes(decoder._buf)  # white box: what it keeps is at most one byte, or the start of one frame
        assert len(buf) <= 1 or buf.startswith(P.MAGIC), "the decoder keeps bytes that cannot start a frame"
        assert len(buf) < MAX_FRAME
    return out, errors


def check_genuine(out: list[P.Frame], stream: bytes) -> None:
    for f in out:
        assert len(f.payload) <= P.MAX_PAYLOAD
        assert P.encode_frame(f.kind, f.seq, f.payload) in stream, f"{f} was not on the wire with a correct CRC"


@given(st.binary(max_size=600) | noise | st.binary(min_size=600, max_size=700),
       st.lists(st.integers(0, 10_000), max_size=8))
@FUZZ
def test_random_bytes_give_only_genuine_frames_or_frame_errors(stream, cuts):
    out, _ = decode(stream, cuts)
    check_genuine(out, stream)


@given(st.lists(frames, max_size=6), st.lists(st.integers(0, 10_000), max_size=8), noise)
@FUZZ
def test_valid_frames_come_out_as_sent(sent, cuts, lead):
    stream = b"".join(P.encode_frame(f.kind, f.seq, f.payload) for f in sent)
    out, errors = decode(stream, cuts)
    assert (out, errors) == (sent, 0)
    # noise before the first frame may cost errors and frames but never yields a false one
    noisy = lead + stream
    out, _ = decode(noisy, cuts)
    check_genuine(out, noisy)


@given(st.lists(frames, min_size=1, max_size=6), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)),
                                                         min_size=1, max_size=4),
       st.lists(st.integers(0, 10_000), max_size=8))
@FUZZ
def test_flipped_bits_give_frame_errors_not_false_frames(sent, flips, cuts):
    encoded = [P.encode_frame(f.kind, f.seq, f.payload) for f in sent]
    original = b"".join(encoded)
    stream = bytearray(original)
    for pos, bit in flips:
        stream[pos % len(stream)] ^= 1 << bit
    stream = bytes(stream)
    out, _ = decode(stream, cuts)
    check_genuine(out, stream)
    # byte by byte (one frame per feed at most), every frame ending before the first changed byte comes out
    first = next((i for i, (a, b) in enumerate(zip(stream, original)) if a != b), len(stream))
    intact, end = [], 0
    for f, e in zip(sent, encoded):
        end += len(e)
        if end <= first:
            intact.append(f)
    out, _ = decode(stream, list(range(len(stream))))
    assert out[:len(intact)] == intact


def test_oversized_length_is_an_error_and_the_decoder_resyncs():
    decoder = P.FrameDecoder()
    bogus = P.MAGIC + bytes([0, 1]) + (P.MAX_PAYLOAD + 1).to_bytes(2, "little")
    good = P.encode_frame(P.Status.OK, 7, b"abc")
    with pytest.raises(P.FrameError):
        decoder.feed(bogus)
    assert decoder.feed(good) == [P.Frame(P.Status.OK, 7, b"abc")]


def test_good_frame_before_a_bad_one_in_the_same_chunk_is_kept():
    """Found by fuzzing: feed() used to raise for the bad frame and drop the good one decoded before it."""
    good = P.encode_frame(P.Status.OK, 1, b"reply")
    bad = bytearray(P.encode_frame(P.Status.OK, 2, b"x"))
    bad[-1] ^= 0xFF
    decoder, out = P.FrameDecoder(), []
    try:
        out += decoder.feed(good + bytes(bad))
    except P.FrameError:
        pass
    assert out == [P.Frame(P.Status.OK, 1, b"reply")]
    with pytest.raises(P.FrameError, match="CRC"):  # the bad frame is reported on the next call
        decoder.feed(b"")
