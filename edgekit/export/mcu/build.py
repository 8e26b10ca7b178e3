"""Build edgekit firmware with arm-none-eabi-gcc for a device profile.

Compiler flags (-mcpu, FPU, float ABI), the kernel variant (kernels.py's VARIANTS: firmware/kernels/dsp/ as well
as reference/ for a core with the `dsp` feature, and mve/ too with the `mve` feature) and the memory map are profile
data. The linker regions take the REAL device's flash and
RAM sizes, so an image that does not fit the real part fails here with the bytes needed and available per region,
even when the emulator's board has more memory.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import interrupts
from ...errors import InputError, UnsupportedError
from ...profiles import Profile, load_profile
from ...units import parse_quantity
from .kernels import Variant, variant_folders, variant_for, variant_id, variant_name

FIRMWARE_DIR = Path(__file__).resolve().parents[3] / "firmware"
TOOLCHAIN_HINT = "install gcc-arm-none-eabi and libnewlib-arm-none-eabi (`make system-deps`)"
_MEASURE_REGION = 0x08000000  # generous region length used to measure what an image needs


@dataclass(frozen=True)
class BuildConfig:
    """Everything the build needs, resolved from a profile (emulator board facts override the real device's)."""

    core: str
    mcpu: str
    float_abi: str
    fpu: str | None
    variant: str                 # kernel variant (kernels.VARIANTS): reference, dsp, mve
    flash_origin: int
    ram_origin: int
    flash_bytes: int
    ram_bytes: int
    port: tuple[str, ...]        # firmware/ports/ folders: the UART driver, the clock tree
    port_config: dict[str, int]  # the board's facts for the port (pins, PLL), as -DEK_<NAME>=value
    uart_base: int
    systick_hz: int
    stack_bytes: int
    semihosting: bool
    target: str

    @property
    def dsp(self) -> bool:
        """Whether the build has the DSP kernels (the DSP and MVE variants)."""
        return self.variant != "reference"

    def cflags(self) -> list[str]:
        flags = [f"-mcpu={self.mcpu}", "-mthumb", f"-mfloat-abi={self.float_abi}"]
        if self.fpu and self.float_abi != "soft":
            flags.append(f"-mfpu={self.fpu}")
        defines = {"EK_UART_BASE": f"0x{self.uart_base:08x}u", "EK_SYSTICK_HZ": f"{self.systick_hz}u",
                   "EK_CORE_NAME": f'"{self.core}"', "EK_PROFILE_NAME": f'"{self.target}"'}
        defines.update({f"EK_{k.upper()}": str(v) for k, v in self.port_config.items()})
        flags += [f"-D{k}={v}" for k, v in defines.items()]
        flags.append(f"-DEK_KERNELS_VARIANT={variant_id(self.variant)}")
        if self.semihosting:
            flags.append("-DEK_SEMIHOSTING")
        return flags

    def facts(self) -> dict[str, Any]:
        return {"profile": self.target, "core": self.core, "mcpu": self.mcpu, "float_abi": self.float_abi,
                "fpu": self.fpu, "kernels": self.variant,
                "flash_origin": f"0x{self.flash_origin:08x}",
                "ram_origin": f"0x{self.ram_origin:08x}", "flash_region_bytes": self.flash_bytes,
                "ram_region_bytes": self.ram_bytes, "stack_bytes": self.stack_bytes, "port": list(self.port),
                "port_config": self.port_config, "systick_hz": self.systick_hz}


def build_config(profile: Profile, dsp: Variant | None = None) -> BuildConfig:
    """Resolve the build for `profile`; `dsp` overrides the kernel variant its features give (a variant's name, or
    True / False for "dsp" / "reference"; benchmarks build several)."""
    fw = profile.firmware
    if fw is None:
        raise UnsupportedError(f"target '{profile.name}' has no [firmware] section", "only microcontroller "
                               "profiles (with mcpu, memory map) can build C firmware")
    hw = profile.hardware
    if hw.flash_bytes is None:
        raise UnsupportedError(f"target '{profile.name}' gives no flash size ([hardware] flash)")
    opts = profile.emulation.options if profile.emulation else {}
    if opts.get("same_image"):  # the emulator runs the real board's own image: build exactly that
        return build_config(load_profile(str(profile.stands_for)), dsp)
    port = tuple(opts["port"].split()) if "port" in opts else fw.port
    uart_base = opts.get("uart_base", fw.uart_base)
    systick = opts.get("systick", fw.systick_hz)
    if not port or uart_base is None:
        raise UnsupportedError(f"no serial driver for target '{profile.name}' in firmware/ports",
                               "set [firmware] port and uart_base in its profile (or add a port for this UART)")
    for folder in port:
        if not (FIRMWARE_DIR / "ports" / folder).is_dir():
            raise UnsupportedError(f"target '{profile.name}' names firmware port '{folder}', which does not exist",
                                   f"ports: {', '.join(sorted(p.name for p in (FIRMWARE_DIR / 'ports').iterdir()))}")
    systick_hz = int(parse_quantity(systick, "hertz")) if isinstance(systick, str) else int(systick or hw.clock_hz)
    return BuildConfig(core=hw.core, mcpu=fw.mcpu, float_abi=fw.float_abi, fpu=fw.fpu,
                       variant=variant_for(profile.hardware.features) if dsp is None else variant_name(dsp),
                       flash_origin=int(opts.get("flash_origin", fw.flash_origin)),
                       ram_origin=int(opts.get("ram_origin", fw.ram_origin)),
                       flash_bytes=int(hw.flash_bytes), ram_bytes=int(hw.ram_bytes), port=port,
                       # an emulator's own UART takes none of the real board's pin and clock facts
                       port_config={} if "port" in opts else dict(fw.port_config),
                       uart_base=int(uart_base), systick_hz=systick_hz, stack_bytes=int(fw.stack_bytes),
                       semihosting=profile.emulated, target=profile.name)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InputError(f"{name} not found on PATH", TOOLCHAIN_HINT)
    return path


@dataclass(frozen=True)
class BuildResult:
    elf: Path
    bin: Path
    flash_bytes: int      # .text + .ARM.exidx + .data load image
    ram_bytes: int        # .data + .bss (arena included) + stack
    sections: dict[str, int]


def kernel_sources(dsp: Variant) -> list[Path]:
    """firmware/kernels/reference/, plus firmware/kernels/dsp/ for the DSP variant (True or "dsp"), plus
    firmware/kernels/mve/ for the MVE one. The sets have distinct symbols (ek_<op>_eval, ek_<op>_dsp_eval,
    ek_<op>_mve_eval): an optimised kernel runs the reference one for shapes it does not handle, and the generated
    model.c names the variant it was planned for."""
    dirs = variant_folders(dsp)
    return [p for d in dirs for p in sorted((FIRMWARE_DIR / "kernels" / d).glob("*.c"))]


def port_dirs(port: tuple[str, ...]) -> list[Path]:
    """firmware/ports/common and the port's folders: their C is built in, their headers are on the include path."""
    return [FIRMWARE_DIR / "ports" / d for d in ("common", *port)]


def firmware_sources(port: tuple[str, ...], app: str | Path = "agent", dsp: Variant = False) -> list[Path]:
    """Kernels, start-up and the port's driver, plus the application: the agent (a directory of firmware/) or one
    C file with its own main (the kernel test image)."""
    ports = sorted(p for d in port_dirs(port) for p in d.glob("*.c"))
    app_path = FIRMWARE_DIR / app if isinstance(app, str) else Path(app)
    return kernel_sources(dsp) + ports + (sorted(app_path.glob("*.c")) if app_path.is_dir() else [app_path])


def _memory_ld(cfg: BuildConfig, flash: int, ram: int) -> str:
    return ("/* generated by edgekit.export.mcu.build for target '%s' */\nMEMORY\n{\n"
            "    FLASH (rx) : ORIGIN = 0x%08x, LENGTH = %d\n    RAM (rwx) : ORIGIN = 0x%08x, LENGTH = %d\n}\n"
            % (cfg.target, cfg.flash_origin, flash, cfg.ram_origin, ram))


def _first_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    hit = next((ln for ln in lines if "undefined reference" in ln or "error" in ln.lower()), lines[-1] if lines else "")
    return hit.strip()[:300] or "no output"


def section_sizes(elf: Path) -> dict[str, int]:
    out = interrupts.run([_tool("arm-none-eabi-size"), "-A", str(elf)], 60, check=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        m = re.match(r"^(\.\S+)\s+(\d+)\s+(\d+)", line)
        if m:
            sizes[m.group(1)] = int(m.group(2))
    return sizes


def _usage(sizes: dict[str, int]) -> tuple[int, int]:
    flash = sizes.get(".text", 0) + sizes.get(".ARM.exidx", 0) + sizes.get(".data", 0)
    ram = sizes.get(".data", 0) + sizes.get(".bss", 0) + sizes.get(".stack", 0)
    return flash, ram


def build_firmware(cfg: BuildConfig, model_c: Path | None, outdir: Path, app: str | Path = "agent",
                   defines: dict[str, str] | None = None) -> BuildResult:
    """Compile the agent (or `app`), kernels, port and `model_c` into outdir/firmware.elf and firmware.bin."""
    gcc, objcopy = _tool("arm-none-eabi-gcc"), _tool("arm-none-eabi-objcopy")
    outdir.mkdir(parents=True, exist_ok=True)
    objdir = outdir / "obj"
    objdir.mkdir(exist_ok=True)
    sources = firmware_sources(cfg.port, app, cfg.variant) + ([Path(model_c)] if model_c else [])
    common = cfg.cflags() + [f"-D{k}={v}" for k, v in (defines or {}).items()] + ["-O2", "-g", "-std=c11", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
                             "-fdata-sections", "-fno-common",
                             f"-I{FIRMWARE_DIR / 'include'}", f"-I{FIRMWARE_DIR / 'agent'}",
                             *(f"-I{d}" for d in port_dirs(cfg.port))]
    log = outdir / "build.log"
    objects = []  # this build's objects only: an earlier build of the other kernel variant may share objdir
    with open(log, "w") as fh:
        for src in sources:
            obj = objdir / f"{src.parent.name}_{src.stem}.o"
            objects.append(str(obj))
            cmd = [gcc, *common, "-c", str(src), "-o", str(obj)]
            fh.write(" ".join(cmd) + "\n")
            fh.flush()
            proc = interrupts.run(cmd, 300, text=True)  # reaped on an interrupt: no .o lands after clean-up
            fh.write(proc.stderr)
            if proc.returncode:
                first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:200])
                raise UnsupportedError(f"compiling {src.name} for {cfg.mcpu} failed: {first.strip()[:300]}",
                                       f"full log: {log}")

    def link(elf: Path, flash: int, ram: int) -> subprocess.CompletedProcess:
        (outdir / "memory.ld").write_text(_memory_ld(cfg, flash, ram))
        cmd = [gcc, *cfg.cflags(), "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
               f"-Wl,--defsym=EK_STACK_BYTES={cfg.stack_bytes}", f"-L{outdir}",
               f"-T{FIRMWARE_DIR / 'ld' / 'ek_sections.ld'}", *objects, "-o", str(elf), "-lc", "-lgcc"]
        return interrupts.run(cmd, 300, text=True)

    # Measure with generous regions first, so a model too big for the real part gets a per-region answer.
    probe = outdir / "measure.elf"
    proc = link(probe, _MEASURE_REGION, _MEASURE_REGION)
    if proc.returncode:
        log.write_text(log.read_text() + proc.stderr)
        raise UnsupportedError(f"linking failed: {_first_error(proc.stderr)}", f"full log: {log}")
    sizes = section_sizes(probe)
    probe.unlink()
    flash, ram = _usage(sizes)
    if flash > cfg.flash_bytes or ram > cfg.ram_bytes:
        parts = []
        if flash > cfg.flash_bytes:
            parts.append(f"FLASH needs {flash:,} B of {cfg.flash_bytes:,} B")
        if ram > cfg.ram_bytes:
            parts.append(f"RAM needs {ram:,} B of {cfg.ram_bytes:,} B (data+bss {ram - cfg.stack_bytes:,} B incl. "
                         f"the arena, stack {cfg.stack_bytes:,} B)")
        raise UnsupportedError(f"the firmware does not fit target '{cfg.target}': {'; '.join(parts)}",
                               "shrink the model (prune, smaller input) or pick a larger device")
    elf = outdir / "firmware.elf"
    proc = link(elf, cfg.flash_bytes, cfg.ram_bytes)
    if proc.returncode:  # cannot happen after the check above, unless alignment padding tips it over
        log.write_text(log.read_text() + proc.stderr)
        raise UnsupportedError(f"linking for '{cfg.target}' failed: {_first_error(proc.stderr)}",
                               f"full log: {log}")
    binary = outdir / "firmware.bin"
    interrupts.run([objcopy, "-O", "binary", str(elf), str(binary)], 60, check=True)  # reaped on an interrupt
    return BuildResult(elf, binary, flash, ram, sizes)
