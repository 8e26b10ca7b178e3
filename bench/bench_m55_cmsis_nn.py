"""Helium on the emulated Cortex-M55: edgekit's kernel variants against ARM's CMSIS-NN Helium kernels, per MLPerf
Tiny net.

For each of kws_dscnn, vww_mobilenet_v1, ic_resnet8 and ad_autoencoder (built and calibrated as in
bench/bench_mcu_mlperf.py: full INT8, 64 calibration samples from the zoo's calibration_data(64, 0)), compiled for
emu-cortex-m55 (QEMU mps3-an547, -icount shift=0, which counts instructions, not cycles), four images of the same
.tflite run under the same QEMU through edgekit.benchmark:
- ours "reference", "dsp", "mve": edgekit's firmware built for each kernel variant (the profile's own is "mve");
- "cmsis_nn_mve": the reference variant's model.c linked with bench/cmsis_nn_peer/ek_cmsis_nn_peer.c, which turns
  its CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED calls into CMSIS-NN's arm_convolve_wrapper_s8 /
  arm_depthwise_conv_wrapper_s8 / arm_fully_connected(_per_channel)_s8, and CMSIS-NN's sources (from --cmsis-nn,
  never downloaded) compiled with the same gcc and -mcpu=cortex-m55 (MVE on: ARM_MATH_MVEI) and -O2; every
  other op runs edgekit's reference kernels there, as in ours' reference image.
Each image's outputs are checked against TFLite Micro on the artifact's reference inputs (the benchmark's
fidelity: max_abs 0 = byte for byte); instructions per inference are the median of --runs after a warm-up.

    .venv/bin/python bench/bench_m55_cmsis_nn.py --cmsis-nn /path/to/CMSIS-NN [--runs 3] [--models kws_dscnn,...]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.artifact import Artifact, write_artifact  # noqa: E402
from edgekit.export.mcu import build as mcu_build  # noqa: E402
from edgekit.export.mcu.package import package_tflite  # noqa: E402
from edgekit.models.zoo import ZOO  # noqa: E402
from edgekit.profiles import load_profile  # noqa: E402

TARGET = "emu-cortex-m55"
MODELS = ("kws_dscnn", "vww_mobilenet_v1", "ic_resnet8", "ad_autoencoder")
CALIBRATION = 64
PEER_DIR = ROOT / "bench" / "cmsis_nn_peer"
CMSIS_NN_DIRS = ("ConvolutionFunctions", "FullyConnectedFunctions", "NNSupportFunctions", "TransposeFunctions")
REPLACED = {"ek_conv2d_s8.c", "ek_depthwise_conv2d_s8.c", "ek_fully_connected_s8.c"}  # by the peer adapter
IMAGE_FILES = ("model.c", "firmware.elf", "firmware.bin", "kernel_calls.json")


def _dataset(arrays: dict[str, Any]) -> edgekit.Dataset:
    return edgekit.Dataset(arrays["x"] if list(arrays) == ["x"] else arrays)


def _git_commit(folder: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def cmsis_nn_library(cmsis: Path, cfg: mcu_build.BuildConfig, outdir: Path) -> Path:
    """CMSIS-NN's int8 sources compiled for the profile's core (same gcc, -mcpu, float ABI, -O2) as one archive."""
    gcc, ar = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-ar")
    objdir = outdir / "cmsis-nn-obj"
    objdir.mkdir(parents=True, exist_ok=True)
    flags = [*cfg.cflags(), "-O2", "-std=c11", "-ffunction-sections", "-fdata-sections", f"-I{cmsis / 'Include'}"]
    sources = sorted(p for d in CMSIS_NN_DIRS for p in (cmsis / "Source" / d).glob("*.c")
                     if not p.stem.endswith(("_f16", "_f32")))  # the integer kernels only

    def compile_one(src: Path) -> str:
        obj = objdir / f"{src.stem}.o"
        subprocess.run([gcc, *flags, "-c", str(src), "-o", str(obj)], check=True, capture_output=True, timeout=300)
        return str(obj)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # the machine is shared: two compilers at most
        objects = list(pool.map(compile_one, sources))
    lib = outdir / "libcmsis-nn.a"
    lib.unlink(missing_ok=True)
    subprocess.run([ar, "rcs", str(lib), *objects], check=True, timeout=300)
    return lib


def build_peer(cfg: mcu_build.BuildConfig, model_c: Path, cmsis: Path, lib: Path, outdir: Path) -> Path:
    """The agent, the port, edgekit's reference kernels but conv / depthwise / FC, the peer adapter and model.c
    (planned for the reference kernels), linked with CMSIS-NN, as build.build_firmware links ours."""
    gcc, objcopy = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-objcopy")
    outdir.mkdir(parents=True, exist_ok=True)
    fw = mcu_build.FIRMWARE_DIR
    sources = [s for s in mcu_build.firmware_sources(cfg.port, "agent", "reference") if s.name not in REPLACED]
    sources += [PEER_DIR / "ek_cmsis_nn_peer.c", model_c]
    common = [*cfg.cflags(), "-O2", "-g", "-std=c11", "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections",
              "-fno-common", f"-I{fw / 'include'}", f"-I{fw / 'agent'}", f"-I{cmsis / 'Include'}",
              *(f"-I{d}" for d in mcu_build.port_dirs(cfg.port))]
    objects = []
    for src in sources:
        obj = outdir / f"{src.parent.name}_{src.stem}.o"
        subprocess.run([gcc, *common, "-c", str(src), "-o", str(obj)], check=True, capture_output=True, timeout=300)
        objects.append(str(obj))
    (outdir / "memory.ld").write_text(mcu_build._memory_ld(cfg, cfg.flash_bytes, cfg.ram_bytes))
    elf = outdir / "firmware.elf"
    proc = subprocess.run([gcc, *cfg.cflags(), "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
                           f"-Wl,--defsym=EK_STACK_BYTES={cfg.stack_bytes}", f"-L{outdir}",
                           f"-T{fw / 'ld' / 'ek_sections.ld'}", *objects, str(lib), "-o", str(elf), "-lc", "-lgcc"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode:
        raise RuntimeError(f"linking the peer failed: {proc.stderr[-600:]}")
    subprocess.run([objcopy, "-O", "binary", str(elf), str(outdir / "firmware.bin")], check=True, timeout=60)
    return elf


def variant_artifact(art: Artifact, files: dict[str, Path], firmware: dict[str, Any], outdir: Path) -> Artifact:
    """`art` with its image files replaced (another build of the same .tflite) and its firmware facts updated."""
    all_files = {name: art.path / name for name in art.manifest["files"]} | files
    manifest = {k: v for k, v in art.manifest.items() if k not in ("files", "schema_version")}
    manifest = json.loads(json.dumps(manifest))
    manifest["export"]["firmware"].update(firmware)
    return write_artifact(outdir, all_files, manifest, force=True)


def measure(art: Artifact, runs: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    report = edgekit.benchmark(art, TARGET, runs=runs, warmup=1, timeout=900)
    fid = report["fidelity"]
    outs = fid.get("outputs") or [fid]
    fw = art.manifest["export"]["firmware"]
    return {"instructions_per_inference": report["counters"]["instructions_per_inference"],
            "bit_exact_with_tflite_micro": all(o["vs_host"]["max_abs"] == 0 for o in outs),
            "max_abs_vs_tflite_micro": max(o["vs_host"]["max_abs"] for o in outs),
            "vs_tflite_micro": [o["vs_host"] for o in outs],
            "flash_bytes": fw.get("flash_bytes"), "arena_bytes": fw.get("arena_bytes"),
            "bench_s": round(time.perf_counter() - t0, 1)}


def run_model(name: str, cmsis: Path, lib: Path, workdir: Path, runs: int) -> dict[str, Any]:
    entry = ZOO[name]
    model, example = entry.factory()
    cal = _dataset(entry.calibration_data(CALIBRATION, 0))
    art = edgekit.compile_model(model, example, TARGET, workdir / f"{name}-mve",
                                recipe=[edgekit.Int8StaticConfig(calibration_samples=CALIBRATION)], calibration=cal,
                                input_names=entry.input_names, output_names=entry.output_names,
                                input_ranges=entry.int_ranges or None)
    fw = art.manifest["export"]["firmware"]
    assert fw["build"]["kernels"] == "mve", fw["build"]
    profile = load_profile(TARGET)
    result: dict[str, Any] = {"macs": fw["macs"], "ops": fw["ops"], "images": {}}
    arts = {"mve": art}
    for variant in ("reference", "dsp"):
        pkg = package_tflite(art.path / "model.tflite", profile, workdir / f"{name}-{variant}-work", dsp=variant)
        arts[variant] = variant_artifact(art, {k: pkg.files[k] for k in IMAGE_FILES}, pkg.firmware,
                                         workdir / f"{name}-{variant}")
    cfg = mcu_build.build_config(profile, dsp="reference")
    try:
        peer_elf = build_peer(cfg, arts["reference"].path / "model.c", cmsis, lib, workdir / f"{name}-peer-build")
        flash, _ = mcu_build._usage(mcu_build.section_sizes(peer_elf))
        arts["cmsis_nn_mve"] = variant_artifact(arts["reference"],
                                                {"firmware.elf": peer_elf,
                                                 "firmware.bin": peer_elf.with_name("firmware.bin")},
                                                {"flash_bytes": flash}, workdir / f"{name}-peer")
    except Exception as exc:  # recorded; ours are still measured
        result["images"]["cmsis_nn_mve"] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:600]}
    for variant in ("reference", "dsp", "mve", "cmsis_nn_mve"):
        if variant not in arts:
            continue
        try:
            result["images"][variant] = measure(arts[variant], runs)
        except Exception as exc:  # recorded, never fatal to the other images
            result["images"][variant] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:400]}
        print(name, variant, {k: result["images"][variant].get(k) for k in
                              ("instructions_per_inference", "bit_exact_with_tflite_micro", "reason")}, flush=True)
    img = result["images"]
    ipi = {v: img[v].get("instructions_per_inference") for v in img}
    if ipi.get("cmsis_nn_mve"):
        result["ours_vs_cmsis_nn"] = {v: round(ipi[v] / ipi["cmsis_nn_mve"], 3)
                                      for v in ("reference", "dsp", "mve") if ipi.get(v)}
    if ipi.get("mve") and ipi.get("dsp"):
        result["mve_vs_dsp"] = round(ipi["mve"] / ipi["dsp"], 3)
    result["outputs_equal_all_images"] = all(i.get("bit_exact_with_tflite_micro") for i in img.values())
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmsis-nn", required=True, type=Path, help="CMSIS-NN's source folder (Include/, Source/)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=None, help="write here instead of bench/results/m55_cmsis_nn.json")
    args = ap.parse_args()
    cmsis = args.cmsis_nn.resolve()
    if not (cmsis / "Include" / "arm_nnfunctions.h").is_file():
        ap.error(f"{cmsis} is not a CMSIS-NN source folder (no Include/arm_nnfunctions.h)")
    profile = load_profile(TARGET)
    cfg = mcu_build.build_config(profile)
    gcc_version = subprocess.run([shutil.which("arm-none-eabi-gcc"), "-dumpversion"], capture_output=True,
                                 text=True).stdout.strip()
    qemu_version = subprocess.run(["qemu-system-arm", "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0]
    figures: dict[str, Any] = {
        "target": TARGET, "qemu_machine": profile.emulation.options["machine"], "qemu": qemu_version,
        "gcc": f"arm-none-eabi-gcc {gcc_version}", "cflags": [*cfg.cflags(), "-O2"],
        "cmsis_nn": {"source": str(cmsis), "commit": _git_commit(cmsis),
                     "version_note": "the commit of github:ARM-software/CMSIS-NN the folder was exported from, "
                                     "when it is not a git work tree: see the report"},
        "qemu_note": "instructions per inference from QEMU -icount shift=0 (1 instruction = 1 ns of virtual time, "
                     "read via SysTick at 32 MHz: 31.25-instruction resolution); median of the runs after a "
                     "warm-up inference; instructions, not cycles (an M55 retires Helium beats over 2 cycles)",
        "peer_note": "cmsis_nn_mve: CMSIS-NN's conv / depthwise / FC Helium kernels called from the generated model "
                     "(bench/cmsis_nn_peer/ek_cmsis_nn_peer.c); other ops edgekit's reference kernels. FC kernel "
                     "sums computed at the first inference (TFLite Micro's Prepare), not counted. DS-CNN's "
                     "1-channel depthwise first layer reaches both as the CONV_2D it is (edgekit's lowering).",
        "models": {}}
    with tempfile.TemporaryDirectory(prefix="bench-m55-cmsis-nn-") as tmp:
        lib = cmsis_nn_library(cmsis, cfg, Path(tmp))
        for name in [m for m in args.models.split(",") if m]:
            try:
                figures["models"][name] = run_model(name, cmsis, lib, Path(tmp), args.runs)
            except Exception as exc:
                figures["models"][name] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:600]}
                print(name, figures["models"][name], flush=True)
    path = write_result("m55_cmsis_nn", figures, Path(args.out) if args.out else None)
    print(f"wrote {path}")
    for name, r in figures["models"].items():
        print(name, {v: i.get("instructions_per_inference") for v, i in r.get("images", {}).items()},
              r.get("ours_vs_cmsis_nn"))


if __name__ == "__main__":
    main()
