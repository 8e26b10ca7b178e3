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

from . import interrupts
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

    def reference(self) -> "Reference":
        """Reference inputs and the host's outputs for them (see reference_arrays for the file's layout)."""
        with np.load(self.path / REFERENCE) as data:
            arrays = {k: data[k] for k in data.files}
        if "inputs" in arrays:  # artifacts written before multi-input support: one input, one output
            arrays = {"input_0": arrays["inputs"], "output_0": arrays["outputs"],
                      **({"float_output_0": arrays["float_outputs"]} if "float_outputs" in arrays else {})}
        return Reference(_numbered(arrays, "input_"), _numbered(arrays, "output_"),
                         _numbered(arrays, "float_output_") or None)

    @classmethod
    def load(cls, path: str | Path, verify: bool = True) -> "Artifact":
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise InputError(f"not an artifact directory: {path} has no {MANIFEST}",
                             "create one with `edgekit compile`")
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"corrupt manifest {manifest_path}: {exc}", "recompile the artifact") from None
        check_manifest(manifest, manifest_path)
        files = manifest["files"]
        for name in [manifest["model_file"], *files]:
            if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
                raise InputError(f"corrupt manifest {manifest_path}: file name {name!r} is not a plain name inside "
                                 "the artifact", "recompile the artifact")
        stored = manifest.get("encoded", {}).get(manifest["model_file"], {}).get("file", manifest["model_file"])
        if stored not in files:
            raise InputError(f"corrupt manifest {manifest_path}: model_file {manifest['model_file']!r} is not among "
                             "its files", "recompile the artifact")
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


# The manifest's sections edgekit reads, with their JSON types; files, model_file and format are required.
_SECTIONS: dict[str, type] = {"files": dict, "model_file": str, "format": str, "schema_version": int, "target": dict,
                              "inputs": list, "outputs": list, "encoded": dict, "generation": dict, "model": dict,
                              "export": dict, "numerics": dict}
_REQUIRED = ("files", "model_file", "format")
_TENSOR_FIELDS: dict[str, type] = {"name": str, "shape": list, "dtype": str}
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a whole number", float: "a number",
               bool: "true or false", type(None): "null"}


def check_manifest(manifest: Any, where: Path) -> None:
    """Refuse a manifest (hand-edited, or from a newer edgekit) whose sections do not have the types edgekit reads,
    naming the first that does not, before anything uses it."""
    def corrupt(problem: str) -> InputError:
        return InputError(f"corrupt manifest {where}: {problem}", "recompile the artifact")
    if not isinstance(manifest, dict):
        raise corrupt(f"it holds {_JSON_NAMES.get(type(manifest), 'a value')}, not an object")
    for key in _REQUIRED:
        if key not in manifest:
            raise corrupt(f"it has no '{key}'")
    for key, kind in _SECTIONS.items():
        if key in manifest and not isinstance(manifest[key], kind):
            raise corrupt(f"'{key}' is {_JSON_NAMES.get(type(manifest[key]), 'a value')}, not {_JSON_NAMES[kind]}")
    version = manifest.get("schema_version", MANIFEST_SCHEMA_VERSION)
    if not 1 <= version <= MANIFEST_SCHEMA_VERSION:
        raise InputError(f"manifest {where} has schema version {version}; this edgekit reads version "
                         f"{MANIFEST_SCHEMA_VERSION}", "recompile the artifact with this edgekit, or use the edgekit "
                         "that wrote it")
    for name, meta in manifest["files"].items():
        if not (isinstance(meta, dict) and isinstance(meta.get("sha256"), str) and isinstance(meta.get("bytes"), int)):
            raise corrupt(f"files['{name}'] is not {{sha256, bytes}}")
    for key in ("inputs", "outputs"):
        for i, spec in enumerate(manifest.get(key, [])):
            if not (isinstance(spec, dict) and all(isinstance(spec[f], t) for f, t in _TENSOR_FIELDS.items()
                                                   if f in spec)):
                raise corrupt(f"{key}[{i}] is not {{name, shape, dtype}}")
    if "target" in manifest and not isinstance(manifest["target"].get("name"), str):
        raise corrupt("target has no name")


@dataclass(frozen=True)
class Reference:
    """Host reference: inputs (one array per model input), the exported model's outputs, the FP32 model's."""

    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    float_outputs: list[np.ndarray] | None

    @property
    def count(self) -> int:
        return len(self.inputs[0])


def _numbered(arrays: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    found = []
    while f"{prefix}{len(found)}" in arrays:
        found.append(arrays[f"{prefix}{len(found)}"])
    return found


def reference_arrays(inputs: list[np.ndarray], outputs: list[np.ndarray],
                     float_outputs: list[np.ndarray] | None) -> dict[str, np.ndarray]:
    """reference.npz's arrays: input_<i> per model input, output_<k> and float_output_<k> per model output."""
    arrays = {f"input_{i}": a for i, a in enumerate(inputs)}
    arrays.update({f"output_{k}": a for k, a in enumerate(outputs)})
    arrays.update({f"float_output_{k}": a for k, a in enumerate(float_outputs or [])})
    return arrays


def check_output_dir(outdir: str | Path, force: bool = False, *, marker: str = MANIFEST, noun: str = "artifact",
                     flag: str = "-o", example: str = "out/model") -> Path:
    """Refuse an output directory whose replacement would lose a user's files, before any slow work.

    An existing edgekit output of its kind (one holding `marker`: an artifact's manifest, a C library's facts) is
    replaced (atomically); an empty directory is used; anything else (a file, or a folder with other content) is
    refused unless `force`. Never the current folder or one above it. The parent must be writable. `noun`, `flag`
    and `example` word the errors for the option that named the folder."""
    outdir = Path(outdir)
    resolved = outdir.resolve()
    label = "output" if flag == "-o" else flag
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents or resolved.parent == resolved:
        raise InputError(f"refusing to write the {noun} over {outdir} (the current folder or one above it)",
                         f"pass a new folder, e.g. {flag} {example}")
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{label} {outdir} exists and is not a folder", f"pass a folder path with {flag}")
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / marker).is_file() and not force:
        raise InputError(f"{label} folder {outdir} is not empty and is not an edgekit {noun}; refusing to replace "
                         "it", "choose another folder, or pass --force to replace it")
    check_writable(resolved.parent, noun=noun, flag=flag)
    return outdir


def check_writable(folder: str | Path, *, noun: str = "artifact", flag: str = "-o") -> None:
    """Refuse, before any slow work, a place where nothing can be written: `folder`, or the nearest folder above it
    that exists (the one a later mkdir would write in)."""
    parent = Path(folder).resolve()
    while not parent.exists() and parent.parent != parent:
        parent = parent.parent
    try:  # a real probe: permission bits say nothing of read-only mounts, /proc or a full disk's metadata
        os.rmdir(tempfile.mkdtemp(prefix=".edgekit-probe-", dir=parent))
    except OSError as exc:
        raise InputError(f"cannot write the {noun} under {parent}: {exc.strerror}",
                         f"pass {flag} a folder you can write") from None


def replace_folder(staging: Path, outdir: Path) -> None:
    """Put the finished `staging` folder in place of `outdir` by renames: `outdir` is never half-written."""
    if outdir.exists():
        old = outdir.with_name(f".{outdir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(outdir, old)
        os.rename(staging, outdir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, outdir)


def write_artifact(outdir: str | Path, files: dict[str, Path], manifest: dict[str, Any],
                   force: bool = False) -> Artifact:
    """Move `files` (name -> path of a finished file) and a manifest into `outdir`, all or nothing.

    Everything is written into a temporary sibling directory that is renamed into place at the end, so an
    interrupted compile never leaves a half-written artifact. An existing `outdir` is replaced only when it is an
    edgekit artifact, an empty folder, or `force` is given (check_output_dir).
    """
    outdir = check_output_dir(outdir, force)
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {outdir.parent}: {exc.strerror}", "pass -o a folder you can write") from None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    except OSError as exc:
        raise InputError(f"cannot write the artifact under {outdir.parent}: {exc.strerror}",
                         "pass -o a folder you can write") from None
    try:
        entries = {}
        for name, src in files.items():
            dst = staging / name
            shutil.copyfile(src, dst)
            entries[name] = {"sha256": sha256_file(dst), "bytes": dst.stat().st_size}
        full = {"schema_version": MANIFEST_SCHEMA_VERSION, **manifest, "files": entries}
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
        interrupts.check()  # a signal the work in between swallowed still means: write nothing
        replace_folder(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Artifact(outdir, full)
