import json

import numpy as np
import pytest

import edgekit
from edgekit.agent.agent import decode_bitmask_sparse
from edgekit.compress import MagnitudePruneConfig
from edgekit.errors import EdgekitError
from edgekit.sparse_file import encode, encode_bitmask_sparse, encode_file


@pytest.mark.parametrize("word", [1, 2, 4])
@pytest.mark.parametrize("length", [0, 1, 7, 4096 + 3])
def test_round_trip_any_length_and_word_size(word, length):
    rng = np.random.default_rng(length)
    data = rng.integers(0, 256, length, dtype=np.uint8)
    data[rng.random(length) < 0.7] = 0
    blob = encode_bitmask_sparse(data.tobytes(), word)
    assert decode_bitmask_sparse(blob) == data.tobytes()


def test_zeros_cost_a_bit_each():
    values = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    values[np.random.default_rng(1).random(10_000) < 0.75] = 0
    blob, word = encode(values.tobytes())
    assert word == 4
    nonzero = int((values != 0).sum())
    assert len(blob) == 24 + -(-10_000 // 8) + 4 * nonzero  # header + bitmask + non-zero words, nothing else


def test_dense_data_is_not_encoded(tmp_path):
    (tmp_path / "m").write_bytes(np.random.default_rng(0).standard_normal(1000).astype(np.float32).tobytes())
    assert encode_file(tmp_path / "m", tmp_path) is None


def test_truncated_or_foreign_blobs_are_rejected():
    blob = encode_bitmask_sparse(bytes(100) + b"\x01" * 50, 4)
    with pytest.raises(ValueError):
        decode_bitmask_sparse(blob[:-3])
    with pytest.raises(ValueError, match="not a bitmask-sparse"):
        decode_bitmask_sparse(b"PK\x03\x04" + blob[4:])


@pytest.fixture(scope="module")
def sparse_artifact(tmp_path_factory, digits, digits_example):
    model, split = digits
    out = tmp_path_factory.mktemp("sparse") / "art"
    return edgekit.compile_model(model, digits_example, "emu-phone", out, recipe=[MagnitudePruneConfig(0.8)],
                                 calibration=edgekit.Dataset(split.x_train, split.y_train))


def test_pruned_artifact_is_smaller_and_runs_on_the_emulated_phone(sparse_artifact, digits):
    _, split = digits
    art = sparse_artifact
    assert art.stored_model_file == "model.pte.sparse"
    assert art.size_bytes < 0.6 * art.dense_bytes
    report = edgekit.benchmark(art, "emu-phone", runs=5, warmup=1,
                               eval_data=edgekit.Dataset(split.x_test[:64], split.y_test[:64]))
    assert report["artifact"]["size_bytes"] == art.size_bytes
    assert report["fidelity"]["vs_host"]["cosine"] > 0.9999  # the device ran the decoded, pruned program


def test_tampered_sparse_file_is_refused(sparse_artifact, tmp_path):
    import shutil
    copy = tmp_path / "art"
    shutil.copytree(sparse_artifact.path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    blob = bytearray((copy / "model.pte.sparse").read_bytes())
    blob[-10] ^= 0xFF
    (copy / "model.pte.sparse").write_bytes(bytes(blob))
    # Re-sign the stored file so only the check of the decoded file can catch it.
    import hashlib
    manifest["files"]["model.pte.sparse"]["sha256"] = hashlib.sha256(bytes(blob)).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EdgekitError, match="decoded file does not match"):
        edgekit.benchmark(copy, "emu-phone", runs=1, warmup=0)
