"""Artifact directory: the model file(s) plus manifest.json (hashes, tensor specs, target, recipe, references)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

MANIFEST = "manifest.json"
REFERENCE = "reference.npz"
MANIFEST_SCHEMA_VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Artifact:
    """A verified artifact directory on the host."""

    path: Path
    manifest: dict[str, Any]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def model_file(self) -> Path:
        return self.path / self.manifest["model_file"]

    @property
    def stored_model_file(self) -> str:
        """The file that holds the model in the artifact: the model file, or its encoding (e.g. sparse)."""
        name = self.manifest["model_file"]
        return self.manifest.get("encoded", {}).get(name, {}).get("file", name)

    @property
    def size_bytes(self) -> int:
        """Bytes the model takes in the artifact (as stored: encoded when the manifest says so)."""
        return self.manifest["files"][self.stored_model_file]["bytes"]

    @property
    def dense_bytes(self) -> int:
        """Bytes of the model file the runtime loads (after decoding a stored encoding)."""
        name = self.manifest["model_file"]
        encoded = self.manifest.get("encoded", {}).get(name)
        return encoded["bytes"] if encoded else self.manifest["files"][name]["bytes"]

    def reference(self) -> dict[str, np.ndarray]:
        """Reference inputs and the host's outputs for them: keys 'inputs', 'outputs', maybe 'float_outputs'."""
        with np.load(self.path / REFERENCE) as data:
            return {k: data[k] for k in data.files}

    @classmethod
    def load(cls, path: str | Path, verify: bool = True) -> "Artifact":
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise InputError(f"not an artifact directory: {path} has no {MANIFEST}",
                             "create one with `edgekit compile`")
        try:
            manifest = json.loads(manifest_path.read_text())
            manifest["files"], manifest["model_file"], manifest["format"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"corrupt manifest {manifest_path}: {exc}", "recompile the artifact") from None
        artifact = cls(path, manifest)
        if verify:
            artifact.verify()
        return artifact

    def verify(self) -> None:
        """Check every file's sha256 against the manifest."""
        for name, meta in self.manifest["files"].items():
            file = self.path / name
            if not file.is_file():
                raise InputError(f"artifact file missing: {file}", "recompile the artifact")
            if sha256_file(file) != meta["sha256"]:
                raise InputError(f"artifact file {file} does not match its sha256 in {MANIFEST}",
                                 "the file was modified or corrupted; recompile the artifact")


def write_artifact(outdir: str | Path, files: dict[str, Path], manifest: dict[str, Any]) -> Artifact:
    """Move `files` (name -> path of a finished file) and a manifest into `outdir`, all or nothing.

    Everything is written into a temporary sibling directory that is renamed into place at the end, so an
    interrupted compile never leaves a half-written artifact.
    """
    outdir = Path(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        entries = {}
        for name, src in files.items():
            dst = staging / name
            shutil.copyfile(src, dst)
            entries[name] = {"sha256": sha256_file(dst), "bytes": dst.stat().st_size}
        full = {"schema_version": MANIFEST_SCHEMA_VERSION, **manifest, "files": entries}
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
        if outdir.exists():
            old = outdir.with_name(f".{outdir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(outdir, old)
            os.rename(staging, outdir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Artifact(outdir, full)
