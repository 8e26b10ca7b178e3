"""Cross-building ek_pte_runner (edgekit/agent/native) for an arm64 image: the ExecuTorch C++ runtime with XNNPACK,
as an app links it, from the shared libraries and headers shipped inside the executorch aarch64 wheel.

Why the wheel: it carries libexecutorch.so, the XNNPACK backend, the optimized and quantized kernels and the
thread pool as shared libraries depending only on libc/libstdc++/libm/libgcc_s, plus the headers. That is the
runtime an app ships, without building ExecuTorch from source. Debian's g++-aarch64-linux-gnu compiles the runner.

A runner bundle (`runner_bundle`) is the runner plus everything it loads, for a device that has nothing but a kernel
and a shell (stock Android: bionic, no glibc, no Python): bin/ek_pte_runner, the ExecuTorch libraries of the wheel,
the C and C++ runtime libraries it needs (libc, libm, libstdc++, libgcc_s, ...) and glibc's dynamic loader, started
as `lib/LOADER --library-path lib bin/ek_pte_runner MODEL.pte`.
Starting it through the loader named on the command line means the device's own loader (Android's linker, bionic)
is never asked, and no path outside the folder is ever opened: it runs inside an empty chroot that has only /proc,
/sys and /dev (XNNPACK's cpuinfo reads the CPU lists in /sys).

Why a bundle rather than one static binary: ExecuTorch ships its runtime, XNNPACK backend and kernels as shared
libraries (the wheel has no static archives), and the kernels and the backend register themselves from static
initializers of those libraries; building a static runner would mean building ExecuTorch from source, and a
static glibc still dlopen()s. The bundle ships the wheel's libraries byte for byte, so the phone runs exactly the
runtime that compiled and checked the .pte on the host.

Where an aarch64 bundle's C and C++ runtime comes from: Debian's native arm64 packages (libc6:arm64, libgcc-s1:arm64,
libstdc++6:arm64), at the versions pinned in .ci/apt-arm64-runtime.txt, which are those the emu-phone-arm image
installs. `make system-deps` downloads them (apt-get download, nothing installed) into ARM64_RUNTIME_DIR; the build
unpacks them with dpkg-deb, offline. Not the cross-toolchain's copies (libc6-arm64-cross, ...), which the runner is
linked against: those are a separate build of the same sources (2.36-8cross1 here) whose five files all differ byte
for byte from the image's, and the decoder's non-delegated operators then ran 2.6% more instructions per decoded
token than the image's runner (emulated Cortex-A76). With the image's own build, the bundle and the image's runner
execute the same C runtime code. Not installed as multiarch packages either: libc6 is Multi-Arch: same, so
libc6:arm64 would tie this host's own libc6 to the phone's version. A bundle for this host takes the runtime `g++`
links against.

Bundles are cached under $EDGEKIT_CACHE/runners (default ~/.cache/edgekit), one folder per (architecture,
executorch version, runner source, C runtime packages), and content-addressed: `bundle.json` lists each file's
sha256, the C runtime packages and the bundle's digest (of every path and hash), which names its folder on a device.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
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
    et = _wheel_sdk(executorch_version, platforms, python_version, work)
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


def _wheel_sdk(executorch_version: str, platforms: tuple[str, ...], python_version: str, work: Path) -> Path:
    """The executorch package (its lib/ and include/) of the aarch64 wheel, downloaded (pip's cache) and unpacked
    under `work`."""
    wheels = work / "executorch-wheel"
    tags = [arg for tag in platforms for arg in ("--platform", tag)]
    run_step([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
          "--only-binary=:all:", *tags, "--python-version", python_version, "--implementation", "cp",
          "-d", str(wheels), f"executorch=={executorch_version}"], "downloading the executorch aarch64 wheel", 900)
    wheel = next(wheels.glob("executorch-*.whl"))
    sdk = work / "executorch-sdk"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(sdk, [n for n in z.namelist() if n.startswith(("executorch/lib/", "executorch/include/"))])
    return sdk / "executorch"


def _compile_command(cxx: str, et: Path, out: Path, rpath: str) -> list[str]:
    """g++ for the runner against the executorch package at `et` (its include/ and lib/)."""
    return [cxx, "-std=c++17", "-O2", "-Wall", *DEFINES, f"-I{et / 'include'}",
            f"-I{et / 'include/executorch/runtime/core/portable_type/c10'}", str(SOURCE), "-o", str(out),
            f"-L{et / 'lib'}", "-Wl,--no-as-needed", *(f"-l{lib}" for lib in LIBRARIES), "-Wl,--as-needed",
            f"-Wl,--enable-new-dtags,-rpath,{rpath}"]


def build_host_runner(out: Path) -> Path:
    """ek_pte_runner for this host (x86-64 Linux), linked against the executorch package installed here, its
    libraries found in place (rpath): the runner a phone runs, to test it and its protocol without an image."""
    et, cxx = _host_sdk()
    out.parent.mkdir(parents=True, exist_ok=True)
    run_step(_compile_command(cxx, et, out, str(et / "lib")), "compiling ek_pte_runner for this host", 300)
    return out


def _host_sdk() -> tuple[Path, str]:
    """The executorch package installed here and this host's C++ compiler."""
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise DeviceError("cannot build ek_pte_runner here: the executorch package is not installed")
    et = Path(next(iter(spec.submodule_search_locations)))
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise DeviceError("cannot build ek_pte_runner here: no C++ compiler ('g++') on PATH")
    if not (et / "lib" / "libexecutorch_etdump.so").is_file():
        raise DeviceError(f"cannot build ek_pte_runner here: {et / 'lib'} has no libexecutorch_etdump.so")
    return et, cxx


# ---- runner bundles: the runner and everything it loads, for a device with nothing but a kernel ---------------

BUNDLE_LAYOUT = 2  # bump when the folder's layout changes (2: the C runtime from Debian's native arm64 packages)
BUNDLE_RUNNER = "bin/ek_pte_runner"
BUNDLE_MANIFEST = "bundle.json"  # stays on this host: the device gets the files it lists
# The aarch64 wheel's tags (pip does not widen manylinux tags by itself).
AARCH64_PLATFORMS = ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux_2_27_aarch64")
# The aarch64 bundle's C/C++ runtime packages: the pins (package=version, the image's versions) and where
# `make system-deps` (.ci/install-apt.sh) downloads their .debs.
ARM64_RUNTIME_PINS = Path(__file__).resolve().parent.parent.parent / ".ci" / "apt-arm64-runtime.txt"
ARM64_RUNTIME_DIR = Path("/var/cache/edgekit/arm64-runtime")
# Where Debian's packages put the libraries, searched in this order.
_MULTIARCH_DIRS = ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib")


@dataclass(frozen=True)
class RunnerBundle:
    """A built bundle on this host: `path` holds bin/, lib/ and bundle.json."""

    path: Path
    arch: str                # the device's `uname -m`
    loader: str              # lib/<glibc's dynamic loader>
    files: dict[str, str]    # relative path -> sha256, every file the device gets
    digest: str              # sha256 of every path and hash: the bundle's name on a device
    size_bytes: int
    executorch: str          # the executorch version of its libraries
    c_runtime: dict[str, str]  # Debian package -> version of its C/C++ runtime ({} for this host's: g++'s own)

    def argv(self, folder: str) -> list[str]:
        """The command that starts the runner from the bundle's folder `folder` on the device (without the .pte)."""
        return [f"{folder}/{self.loader}", "--library-path", f"{folder}/lib", f"{folder}/{BUNDLE_RUNNER}"]

    @classmethod
    def read(cls, path: Path) -> "RunnerBundle":
        meta = json.loads((path / BUNDLE_MANIFEST).read_text())
        return cls(path=path, arch=meta["arch"], loader=meta["loader"], files=meta["files"], digest=meta["digest"],
                   size_bytes=meta["size_bytes"], executorch=meta["executorch"], c_runtime=meta["c_runtime"])


def bundle_cache_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "runners"


def bundle_unavailable_reason(arch: str) -> str | None:
    """Why a bundle for `arch` cannot be built here (None: it can)."""
    if arch == platform.machine():
        if importlib.util.find_spec("executorch") is None:
            return "the executorch package is not installed here"
        return None if shutil.which("g++") or shutil.which("c++") else "no C++ compiler ('g++') on PATH"
    if arch == "aarch64":
        return unavailable_reason() or arm64_runtime_unavailable_reason()
    return f"edgekit builds runner bundles for aarch64 and this host's {platform.machine()} only, not {arch}"


def runner_bundle(arch: str | None = None, executorch_version: str | None = None,
                  cache: Path | None = None) -> RunnerBundle:
    """The runner bundle for a device whose `uname -m` is `arch` (default: this host's), built once and cached.
    Its ExecuTorch libraries are those of `executorch_version` (default: the version installed here, which
    compiled the .pte): from the aarch64 wheel for aarch64, from the installed package for this host's arch."""
    arch = arch or platform.machine()
    reason = bundle_unavailable_reason(arch)
    if reason:
        raise DeviceError(f"cannot build the ek_pte_runner bundle for {arch}: {reason}")  # each reason names its fix
    host = arch == platform.machine()
    installed = importlib.metadata.version("executorch") if importlib.util.find_spec("executorch") else None
    version = executorch_version or installed
    if version is None:
        raise DeviceError("cannot tell which executorch version the bundle should carry: executorch is not "
                          "installed here", "pass executorch_version")
    if host and version != installed:
        raise DeviceError(f"a bundle for this host takes the installed executorch ({installed}), not {version}")
    c_runtime = {} if host else arm64_runtime_pins()
    runtime_key = " ".join(f"{p}={v}" for p, v in sorted(c_runtime.items())) or "host"
    key = hashlib.sha256(f"layout {BUNDLE_LAYOUT}\0{arch}\0executorch {version}\0runner {source_digest()}"
                         f"\0c runtime {runtime_key}".encode()).hexdigest()[:16]
    root = cache or bundle_cache_dir()
    dest = root / f"ek_pte_runner-{arch}-{key}"
    if (dest / BUNDLE_MANIFEST).is_file():
        return RunnerBundle.read(dest)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits, then finds the first one's bundle
        if (dest / BUNDLE_MANIFEST).is_file():
            return RunnerBundle.read(dest)
        staging = root / f".{dest.name}.partial-{secrets.token_hex(4)}"
        try:
            with tempfile.TemporaryDirectory(prefix="ek-bundle-") as work:
                if host:
                    et, cxx = _host_sdk()
                    runtime = None
                else:
                    et, cxx = _wheel_sdk(version, AARCH64_PLATFORMS, f"{sys.version_info[0]}.{sys.version_info[1]}",
                                         Path(work)), CXX
                    runtime = _unpack_arm64_runtime(c_runtime, Path(work) / "c-runtime")
                _assemble_bundle(staging, et, cxx, arch, version, runtime, c_runtime)
            os.rename(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return RunnerBundle.read(dest)


def _assemble_bundle(folder: Path, et: Path, cxx: str, arch: str, version: str, runtime: Path | None,
                     c_runtime: dict[str, str]) -> None:
    """Compile the runner into folder/bin and copy into folder/lib every library it loads, its dependencies'
    dependencies and glibc's loader: found in the executorch package first, then in `runtime` (unpacked Debian
    packages, whose versions `c_runtime` names) or, without one, where `cxx` links from."""
    (folder / "bin").mkdir(parents=True)
    (folder / "lib").mkdir()
    runner = folder / BUNDLE_RUNNER
    run_step([*_compile_command(cxx, et, runner, "$ORIGIN/../lib"), "-s"], f"compiling ek_pte_runner for {arch}", 900)
    interp = elf_interpreter(runner)
    if interp is None:
        raise DeviceError(f"ek_pte_runner for {arch} has no program interpreter (not a dynamic executable?)")
    loader = Path(interp).name
    wanted, seen = [loader, *elf_needed(runner)], set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        source = et / "lib" / name
        if not source.is_file() and runtime is not None:
            found_in = _find_in_tree(runtime, name)
            if found_in is None:
                raise DeviceError(f"cannot build the ek_pte_runner bundle: {name} is in none of the runtime "
                                  f"packages {', '.join(sorted(c_runtime))} ({ARM64_RUNTIME_PINS.name})")
            source = found_in
        elif not source.is_file():
            found = run_step([cxx, f"-print-file-name={name}"], f"finding {name}", 60).strip()
            source = Path(found)
            if not source.is_absolute() or not source.is_file():
                raise DeviceError(f"cannot build the ek_pte_runner bundle: {cxx} cannot find {name}")
        target = folder / "lib" / name
        shutil.copyfile(source.resolve(), target)  # the file itself under its soname, never a link
        target.chmod(0o755 if name == loader else 0o644)
        wanted += elf_needed(target)
    runner.chmod(0o755)
    files = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    meta = {"arch": arch, "loader": f"lib/{loader}", "files": files, "digest": bundle_digest(files),
            "size_bytes": sum((folder / f).stat().st_size for f in files), "executorch": version,
            "runner_source": source_digest(), "layout": BUNDLE_LAYOUT, "c_runtime": c_runtime,
            "start": f"lib/{loader} --library-path lib {BUNDLE_RUNNER} MODEL.pte"}
    (folder / BUNDLE_MANIFEST).write_text(json.dumps(meta, indent=1) + "\n")


def arm64_runtime_pins() -> dict[str, str]:
    """The Debian packages (name -> version) an aarch64 bundle's C/C++ runtime is taken from."""
    try:
        lines = ARM64_RUNTIME_PINS.read_text().splitlines()
    except OSError:
        raise DeviceError(f"cannot read the arm64 runtime pins {ARM64_RUNTIME_PINS}") from None
    pins = dict(line.strip().split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    if not pins:
        raise DeviceError(f"{ARM64_RUNTIME_PINS} pins no package")
    return pins


def arm64_runtime_deb(package: str, version: str) -> Path:
    """Where `make system-deps` puts package_version_arm64.deb (apt-get download's name: an epoch's ':' is %3a)."""
    return ARM64_RUNTIME_DIR / f"{package}_{version.replace(':', '%3a')}_arm64.deb"


def arm64_runtime_unavailable_reason() -> str | None:
    """Why the aarch64 bundle's runtime packages are not here (None: they all are)."""
    if shutil.which("dpkg-deb") is None:
        return "'dpkg-deb' not found (the arm64 runtime packages are unpacked with it)"
    missing = [f"{p}:arm64={v}" for p, v in arm64_runtime_pins().items() if not arm64_runtime_deb(p, v).is_file()]
    if missing:
        return f"the arm64 runtime packages {', '.join(missing)} are not in {ARM64_RUNTIME_DIR} (make system-deps)"
    return None


def _unpack_arm64_runtime(pins: dict[str, str], dest: Path) -> Path:
    """Each pinned package's .deb, checked to be that package, version and architecture, unpacked into `dest`."""
    reason = arm64_runtime_unavailable_reason()
    if reason:
        raise DeviceError(f"cannot build the ek_pte_runner bundle for aarch64: {reason}")
    dest.mkdir(parents=True)
    for package, version in pins.items():
        deb = arm64_runtime_deb(package, version)
        fields = subprocess.run(["dpkg-deb", "--field", str(deb), "Package", "Version", "Architecture"],
                                capture_output=True, text=True, timeout=60)
        got = dict(line.split(": ", 1) for line in fields.stdout.splitlines() if ": " in line)
        if fields.returncode != 0 or got != {"Package": package, "Version": version, "Architecture": "arm64"}:
            raise DeviceError(f"{deb} is not {package}:arm64={version} ({fields.stderr.strip() or got})",
                              "remove it and run make system-deps")
        run_step(["dpkg-deb", "--extract", str(deb), str(dest)], f"unpacking {deb.name}", 120)
    return dest


def _find_in_tree(root: Path, name: str) -> Path | None:
    """The file `name` resolves to in an unpacked package tree, its symlinks (absolute ones too) followed inside
    `root`, never into this host's own /lib."""
    for folder in _MULTIARCH_DIRS:
        path = root / folder / name
        for _ in range(16):
            if not path.is_symlink():
                break
            target = os.readlink(path)
            path = root / target.lstrip("/") if target.startswith("/") else path.parent / target
        if path.is_file() and not path.is_symlink():
            return path
    return None


def bundle_digest(files: dict[str, str]) -> str:
    """The sha256 of a bundle: of each relative path and its file's sha256, in path order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\n".encode())
    return digest.hexdigest()


# ---- reading ELF files: enough of a 64-bit little-endian ELF for its interpreter and DT_NEEDED ---------------

def _elf(path: Path) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise DeviceError(f"{path.name} is not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segments = []
    for i in range(phnum):
        p_type, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        segments.append((p_type, offset, vaddr, filesz))
    return data, segments


def elf_interpreter(path: Path) -> str | None:
    """The program interpreter an executable names (PT_INTERP), or None."""
    data, segments = _elf(path)
    for p_type, offset, _, size in segments:
        if p_type == 3:  # PT_INTERP
            return data[offset:offset + size].split(b"\0", 1)[0].decode()
    return None


def elf_needed(path: Path) -> list[str]:
    """The libraries an ELF file names in DT_NEEDED, in order."""
    data, segments = _elf(path)
    dynamic = next(((off, size) for t, off, _, size in segments if t == 2), None)  # PT_DYNAMIC
    if dynamic is None:
        return []
    entries = [struct.unpack_from("<qQ", data, dynamic[0] + i) for i in range(0, dynamic[1], 16)]
    strtab = next((v for tag, v in entries if tag == 5), None)  # DT_STRTAB, a virtual address
    if strtab is None:
        return []
    for p_type, offset, vaddr, size in segments:  # to a file offset, through the PT_LOAD that maps it
        if p_type == 1 and vaddr <= strtab < vaddr + size:
            strtab = strtab - vaddr + offset
            break
    names = []
    for tag, value in entries:
        if tag == 0:  # DT_NULL
            break
        if tag == 1:  # DT_NEEDED
            names.append(data[strtab + value:data.index(b"\0", strtab + value)].decode())
    return names
