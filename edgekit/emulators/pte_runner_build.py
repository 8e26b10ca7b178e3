"""Cross-building ek_pte_runner (edgekit/agent/native) for an arm64 image: the ExecuTorch C++ runtime with XNNPACK,
as an app links it, from the shared libraries and headers shipped inside the executorch aarch64 wheel.

Why the wheel: it carries libexecutorch.so, the XNNPACK backend, the optimized and quantized kernels and the
thread pool as shared libraries depending only on libc/libstdc++/libm/libgcc_s, plus the headers. That is the
runtime an app ships, without building ExecuTorch from source. Debian's g++-aarch64-linux-gnu compiles the runner.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

from ..errors import DeviceError
from .build_step import run_step

SOURCE = Path(__file__).resolve().parent.parent / "agent" / "native" / "ek_pte_runner.cpp"
CXX = "aarch64-linux-gnu-g++"
INSTALL_PREFIX = "opt/edgekit"  # the agent looks for opt/edgekit/bin/ek_pte_runner (agent.PTE_RUNNER_PATH)
# Kernels and the XNNPACK backend register themselves in static initializers and export nothing the runner calls:
# --no-as-needed keeps them linked. The ETDump writer (ETDumpGen) is what the runner's "profile" attaches.
LIBRARIES = ("executorch", "executorch_kernels_optimized", "executorch_kernels_quantized",
             "executorch_backend_xnnpack", "executorch_threadpool", "executorch_etdump")
# What the wheel's executorch-config.cmake defines on its imported targets (same headers, same ABI).
DEFINES = ("-DC10_USING_CUSTOM_GENERATED_MACROS", "-DET_EVENT_TRACER_ENABLED", "-DET_USE_THREADPOOL")


def source_digest() -> str:
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def unavailable_reason() -> str | None:
    if shutil.which(CXX) is None:
        return f"'{CXX}' not found (install g++-aarch64-linux-gnu: make system-deps)"
    return None


def install_pte_runner(executorch_version: str, platforms: tuple[str, ...], python_version: str, root: Path,
                       work: Path) -> list[str]:
    """Build the runner against executorch==`executorch_version` (aarch64 wheel) into ROOT/opt/edgekit;
    returns the installed files, relative to root."""
    reason = unavailable_reason()
    if reason:
        raise DeviceError(f"image build: cannot build ek_pte_runner: {reason}")
    wheels = work / "executorch-wheel"
    tags = [arg for tag in platforms for arg in ("--platform", tag)]
    run_step([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
          "--only-binary=:all:", *tags, "--python-version", python_version, "--implementation", "cp",
          "-d", str(wheels), f"executorch=={executorch_version}"], "downloading the executorch aarch64 wheel", 900)
    wheel = next(wheels.glob("executorch-*.whl"))
    sdk = work / "executorch-sdk"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(sdk, [n for n in z.namelist() if n.startswith(("executorch/lib/", "executorch/include/"))])
    et = sdk / "executorch"
    prefix = root / INSTALL_PREFIX
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    (prefix / "lib").mkdir(parents=True, exist_ok=True)
    run_step(_compile_command(CXX, et, prefix / "bin" / "ek_pte_runner", "$ORIGIN/../lib"),
             "compiling ek_pte_runner", 900)
    installed = [f"{INSTALL_PREFIX}/bin/ek_pte_runner"]
    for lib in LIBRARIES:
        shutil.copyfile(et / "lib" / f"lib{lib}.so", prefix / "lib" / f"lib{lib}.so")
        installed.append(f"{INSTALL_PREFIX}/lib/lib{lib}.so")
    return installed


def _compile_command(cxx: str, et: Path, out: Path, rpath: str) -> list[str]:
    """g++ for the runner against the executorch package at `et` (its include/ and lib/)."""
    return [cxx, "-std=c++17", "-O2", "-Wall", *DEFINES, f"-I{et / 'include'}",
            f"-I{et / 'include/executorch/runtime/core/portable_type/c10'}", str(SOURCE), "-o", str(out),
            f"-L{et / 'lib'}", "-Wl,--no-as-needed", *(f"-l{lib}" for lib in LIBRARIES), "-Wl,--as-needed",
            f"-Wl,--enable-new-dtags,-rpath,{rpath}"]


def build_host_runner(out: Path) -> Path:
    """ek_pte_runner for this host (x86-64 Linux), linked against the executorch package installed here, its
    libraries found in place (rpath): the runner a phone runs, to test it and its protocol without an image."""
    import importlib.util
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise DeviceError("cannot build ek_pte_runner here: the executorch package is not installed")
    et = Path(next(iter(spec.submodule_search_locations)))
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise DeviceError("cannot build ek_pte_runner here: no C++ compiler ('g++') on PATH")
    if not (et / "lib" / "libexecutorch_etdump.so").is_file():
        raise DeviceError(f"cannot build ek_pte_runner here: {et / 'lib'} has no libexecutorch_etdump.so")
    out.parent.mkdir(parents=True, exist_ok=True)
    run_step(_compile_command(cxx, et, out, str(et / "lib")), "compiling ek_pte_runner for this host", 300)
    return out
