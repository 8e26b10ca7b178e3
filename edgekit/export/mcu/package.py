"""From an INT8 .tflite to the files of a c-firmware artifact: generated C, ELF and flash image, and the facts
the manifest records. Used by the exporter (after its own PyTorch -> .tflite step) and directly for a .tflite."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...profiles import Profile
from . import tflm
from .build import build_config, build_firmware
from .codegen import generate


@dataclass
class FirmwarePackage:
    files: dict[str, Path]       # artifact name -> file
    firmware: dict[str, Any]     # manifest["export"]["firmware"]
    input_quant: dict[str, Any]  # scale, zero_point of the int8 input
    output_quant: dict[str, Any]


def package_tflite(tflite: Path, profile: Profile, workdir: Path, dsp: bool | None = None) -> FirmwarePackage:
    """Generate, plan and build firmware for `profile` from `tflite`, writing into `workdir`."""
    cfg = build_config(profile, dsp=dsp)
    workdir.mkdir(parents=True, exist_ok=True)
    if Path(tflite).resolve() != (workdir / "model.tflite").resolve():
        shutil.copyfile(tflite, workdir / "model.tflite")
    gen = generate(workdir / "model.tflite", dsp=cfg.dsp)
    model_c = workdir / "model.c"
    model_c.write_text(gen.source)
    built = build_firmware(cfg, model_c, workdir / "build")
    firmware = {**gen.info(), "flash_bytes": built.flash_bytes, "ram_bytes": built.ram_bytes,
                "sections": {k: v for k, v in built.sections.items() if not k.startswith((".debug", ".comment"))},
                "build": cfg.facts(), "tflite_micro_arena_bytes": tflm.arena_bytes(workdir / "model.tflite")}
    files = {"model.tflite": workdir / "model.tflite", "model.c": model_c, "firmware.elf": built.elf,
             "firmware.bin": built.bin}
    quant = lambda spec: {"scale": spec["scale"], "zero_point": spec["zero_point"]}  # noqa: E731
    return FirmwarePackage(files, firmware, quant(gen.plan.input_spec), quant(gen.plan.output_spec))
