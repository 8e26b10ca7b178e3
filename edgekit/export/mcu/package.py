"""From an INT8 .tflite to the files of a c-firmware artifact: generated C, ELF and flash image, and the facts
the manifest records. Used by the exporter (after its own PyTorch -> .tflite step) and directly for a .tflite."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...profiles import Profile
from . import tflm
from .build import build_config, build_firmware
from .codegen import generate


# The kernel calls of one inference in the order of the firmware's profile table (ek_model_profile): the .tflite op
# each runs and its output tensor's name, what `bench --profile` maps each measured call back to a module with.
KERNEL_CALLS = "kernel_calls.json"


@dataclass
class FirmwarePackage:
    files: dict[str, Path]       # artifact name -> file
    firmware: dict[str, Any]     # manifest["export"]["firmware"]
    inputs: list[dict[str, Any]]   # per int8 input, in the .tflite's order: name, shape, bytes, scale, zero_point, ...
    outputs: list[dict[str, Any]]  # (ModelPlan.inputs / outputs)

    @property
    def input_quant(self) -> dict[str, Any]:
        """scale, zero_point of the first input (for one-input callers)."""
        return _quant(self.inputs[0])

    @property
    def output_quant(self) -> dict[str, Any]:
        return _quant(self.outputs[0])


def _quant(spec: dict[str, Any]) -> dict[str, Any]:
    return {"scale": spec["scale"], "zero_point": spec["zero_point"]}


def package_tflite(tflite: Path, profile: Profile, workdir: Path, dsp: bool | None = None) -> FirmwarePackage:
    """Generate, plan and build firmware for `profile` from `tflite`, writing into `workdir`."""
    cfg = build_config(profile, dsp=dsp)
    workdir.mkdir(parents=True, exist_ok=True)
    if Path(tflite).resolve() != (workdir / "model.tflite").resolve():
        shutil.copyfile(tflite, workdir / "model.tflite")
    gen = generate(workdir / "model.tflite", dsp=cfg.variant)
    model_c = workdir / "model.c"
    model_c.write_text(gen.source)
    built = build_firmware(cfg, model_c, workdir / "build")
    firmware = {**gen.info(), "flash_bytes": built.flash_bytes, "ram_bytes": built.ram_bytes,
                "sections": {k: v for k, v in built.sections.items() if not k.startswith((".debug", ".comment"))},
                "build": cfg.facts(), "tflite_micro_arena_bytes": tflm.arena_bytes(workdir / "model.tflite")}
    calls = workdir / KERNEL_CALLS
    calls.write_text(json.dumps({"calls": gen.plan.kernel_calls()}, indent=1) + "\n")
    firmware["profile_table"] = KERNEL_CALLS
    files = {"model.tflite": workdir / "model.tflite", "model.c": model_c, "firmware.elf": built.elf,
             "firmware.bin": built.bin, KERNEL_CALLS: calls}
    return FirmwarePackage(files, firmware, gen.plan.inputs, gen.plan.outputs)
