import json

import pytest

from edgekit.artifact import MANIFEST, Artifact, write_artifact
from edgekit.errors import InputError


def make(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.bin").write_bytes(b"\x01\x02\x03")
    return write_artifact(tmp_path / "art", {"model.bin": src / "model.bin"},
                          {"format": "bin", "model_file": "model.bin"})


def test_roundtrip_and_hashes(tmp_path):
    art = make(tmp_path)
    loaded = Artifact.load(art.path)
    assert loaded.size_bytes == 3 and loaded.manifest["schema_version"] == 1
    assert not list(tmp_path.glob(".art.*")), "staging directory left behind"


def test_tampered_file_is_refused(tmp_path):
    art = make(tmp_path)
    (art.path / "model.bin").write_bytes(b"\x01\x02\x04")
    with pytest.raises(InputError, match="does not match its sha256"):
        Artifact.load(art.path)


def test_missing_and_corrupt_manifest(tmp_path):
    with pytest.raises(InputError, match="no manifest.json"):
        Artifact.load(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(InputError, match="corrupt manifest"):
        Artifact.load(tmp_path)


def test_failed_write_leaves_previous_artifact(tmp_path):
    art = make(tmp_path)
    before = json.loads((art.path / MANIFEST).read_text())
    with pytest.raises(FileNotFoundError):
        write_artifact(art.path, {"model.bin": tmp_path / "missing"}, {"format": "bin", "model_file": "model.bin"})
    assert json.loads((art.path / MANIFEST).read_text()) == before
    assert not list(tmp_path.glob(".art.*"))
