"""Sparse storage of a model file: a bitmask of non-zero words plus the non-zero words themselves.

Pruned weights are runs of zero bytes inside the exported file (.pte, .tflite): the runtimes take dense tensors,
so the artifact stores the file encoded and the on-device agent expands it before loading (numpy only; the
decoder lives in edgekit/agent/agent.py, which must stay standalone). The file is cut into words of 1, 2 or
4 bytes (whichever encodes smallest: 4 for float32 weights, 1 for int8); a zero word costs one bit.

Layout (little-endian): magic b"EKSPARS1", u8 word size, 7 bytes zero, u64 dense length, bitmask of
ceil(n_words / 8) bytes (bit i = word i is non-zero, LSB first), the non-zero words, then the trailing
dense_length % word_size bytes as they are. The manifest keeps the sha256 of the dense file as well, and the
agent checks it after decoding.
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .agent.agent import SPARSE_ENCODING, SPARSE_MAGIC, decode_bitmask_sparse

SUFFIX = ".sparse"
MIN_SAVING = 0.10  # below this the decode step is not worth it: the file is stored dense


def encode_bitmask_sparse(data: bytes, word_size: int) -> bytes:
    n_words = len(data) // word_size
    words = np.frombuffer(data, dtype=f"<u{word_size}", count=n_words)
    nonzero = words != 0
    header = SPARSE_MAGIC + struct.pack("<B7xQ", word_size, len(data))
    return b"".join((header, np.packbits(nonzero, bitorder="little").tobytes(), words[nonzero].tobytes(),
                     data[n_words * word_size:]))


def encode(data: bytes) -> tuple[bytes, int]:
    """The smallest encoding over word sizes 1, 2 and 4, and its word size."""
    return min(((encode_bitmask_sparse(data, w), w) for w in (4, 2, 1)), key=lambda e: len(e[0]))


def encode_file(src: Path, workdir: Path) -> tuple[Path, dict[str, Any]] | None:
    """Write `src` encoded next to it in `workdir`; None (keep it dense) when that saves under MIN_SAVING.

    Returns the encoded file and its manifest record (encoding, stored file, dense sha256 and size)."""
    data = src.read_bytes()
    blob, word = encode(data)
    if len(blob) > (1 - MIN_SAVING) * len(data):
        return None
    if decode_bitmask_sparse(blob) != data:  # never ship an encoding the device cannot invert
        raise AssertionError("sparse encoding did not round-trip")
    dst = workdir / (src.name + SUFFIX)
    dst.write_bytes(blob)
    return dst, {"encoding": SPARSE_ENCODING, "file": dst.name, "word_bytes": word, "bytes": len(data),
                 "sha256": hashlib.sha256(data).hexdigest(), "stored_bytes": len(blob),
                 "stored_ratio": round(len(blob) / len(data), 4)}
