"""Build and run a kernel test image under QEMU (firmware/tests/ek_kernel_test.c: DSP vs reference;
ek_mve_kernel_test.c: MVE vs reference): bit-exactness on random cases and SysTick timings on fixed shapes, converted
to instructions per multiply-accumulate."""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from edgekit.profiles import load_profile
from edgekit.export.mcu.build import FIRMWARE_DIR, build_config, build_firmware

TEST_RAM_BYTES = 1 << 20  # the test image holds a 256 KiB weight matrix and its packed copy: more than a small MCU
# has, not more than the emulated boards (mps2: 4 MiB; an547 SRAM: 2 MiB)


def run_kernel_test(target: str = "emu-cortex-m4", cases: int = 300, timeout: float = 120.0,
                    image: str = "ek_kernel_test.c", variant: str | None = "dsp") -> dict[str, Any]:
    """The image's JSON result, with its exit code (the mismatching cases). variant: the kernel build (None: the
    profile's own)."""
    from edgekit.emulators.qemu import QemuMachine
    profile = load_profile(target)
    cfg = build_config(profile, dsp=variant)
    cfg = dataclasses.replace(cfg, ram_bytes=max(cfg.ram_bytes, TEST_RAM_BYTES))
    with tempfile.TemporaryDirectory(prefix="edgekit-kt-") as tmp:
        built = build_firmware(cfg, None, Path(tmp), app=FIRMWARE_DIR / "tests" / image,
                               defines={"EK_TEST_CASES": str(cases)})
        with QemuMachine(profile.emulation.options["machine"], built.elf, limit_s=timeout,
                         log=Path(tmp) / "qemu.log") as qemu:
            sock = qemu.connect(timeout=timeout)
            with sock:
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            qemu._proc.wait(timeout=timeout)
            exit_code = qemu._proc.returncode
    result = json.loads(data.decode())
    per_ns = 2.0 ** 0  # -icount shift=0: one instruction per virtual ns
    for b in result["bench"]:
        b["instructions"] = round(b["ticks"] * 1e9 / result["systick_hz"] * per_ns)
        b["instructions_per_mac"] = b["instructions"] / b["macs"]
    result.update({"exit_code": exit_code, "target": target, "machine": profile.emulation.options["machine"],
                   "mcpu": cfg.mcpu})
    return result
