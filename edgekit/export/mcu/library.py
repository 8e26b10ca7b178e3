"""The model as a C library for the user's own firmware (`edgekit compile ... --c-library DIR`,
`edgekit.write_c_library`).

A product does not ship edgekit's agent: its firmware owns the start-up, the clocks and the UART, and only wants
the model. write_c_library writes a self-contained folder that such firmware builds with its own toolchain:

    DIR/
      include/edgekit_model.h      the one public header: init, run, input/output pointers, arena size and every
                                   input's and output's shape, dtype, scale and zero point (macros and const data)
      src/edgekit_model.c          that header's implementation over the generated model
      src/model.c                  the generated model (codegen.emit_c: weights in flash, the planned arena)
      src/kernels/<variant>/*.c    only the kernels the model calls (and, for a DSP build, the reference kernels
                                   the DSP ones fall back to), as build.kernel_sources would compile them
      src/include/ek_*.h           the firmware headers those files include (private to the library)
      CMakeLists.txt               a static library target `edgekit_model` for add_subdirectory()
      zephyr/module.yml, zephyr/CMakeLists.txt, zephyr/Kconfig   the same as a Zephyr module
      edgekit_model.json           the facts above, machine-readable (it marks the folder as an edgekit library)
      README.md

No agent, no protocol, no port, no allocation. The public header depends on nothing else of the firmware: its I/O
facts are generated here from the plan (io_tensors), not read from ek_model_info, whose layout may change.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import interrupts
from ...artifact import Artifact, check_output_dir, replace_folder
from ...errors import InputError, UnsupportedError
from ...version import __version__
from . import kernels
from .build import FIRMWARE_DIR
from .codegen import ModelPlan, emit_c, plan_model

MARKER = "edgekit_model.json"
HEADER = "edgekit_model.h"
TARGET = "edgekit_model"         # the CMake target and the Zephyr library
KCONFIG = "EDGEKIT_MODEL"        # CONFIG_EDGEKIT_MODEL

# dtype -> (the public header's enum value name, the C type of one element)
DTYPES = {"int8": ("EDGEKIT_INT8", "int8_t"), "uint8": ("EDGEKIT_UINT8", "uint8_t"),
          "int16": ("EDGEKIT_INT16", "int16_t"), "int32": ("EDGEKIT_INT32", "int32_t"),
          "float32": ("EDGEKIT_FLOAT32", "float")}
# ek_status.h codes the public header repeats (edgekit_model.c checks that they agree)
STATUS = {"OK": 0, "E_BAD_ARG": 4, "E_NOT_READY": 5, "E_BAD_PARAMS": 6, "E_SCRATCH": 7, "E_UNSUPPORTED": 8}


@dataclass
class CLibrary:
    path: Path
    manifest: dict[str, Any]     # the content of edgekit_model.json


# ---- the facts ----------------------------------------------------------------------------------------------------

def _tensor(spec: dict[str, Any], default_name: str) -> dict[str, Any]:
    scale, zero_point = spec["scale"], spec["zero_point"]
    if scale is None:  # an integer input (token ids), taken as it is
        return {"name": str(spec.get("name") or default_name), "shape": [int(d) for d in spec["shape"]],
                "dtype": str(spec.get("dtype") or "int32"), "bytes": int(spec["bytes"]), "offset": int(spec["offset"]),
                "scale": None, "zero_point": None}
    if isinstance(scale, (list, tuple)):  # a per-tensor quantization given as a one-element list
        if len(scale) != 1 or len(zero_point) != 1:
            raise UnsupportedError(f"model I/O tensor '{spec.get('name', default_name)}' is quantized per channel; "
                                   "the C library describes one scale and zero point per tensor")
        scale, zero_point = scale[0], zero_point[0]
    return {"name": str(spec.get("name") or default_name), "shape": [int(d) for d in spec["shape"]],
            "dtype": str(spec.get("dtype") or "int8"), "bytes": int(spec["bytes"]), "offset": int(spec["offset"]),
            "scale": float(scale), "zero_point": int(zero_point)}


def io_tensors(plan: ModelPlan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(inputs, outputs) of a plan, each a list of {name, shape, dtype, bytes, offset (in ek_arena), scale,
    zero_point}, in the PyTorch model's order where the plan's tensors carry signature_index (else the .tflite's);
    unnamed tensors are input0, output0, ..."""
    ins, outs = plan.inputs, plan.outputs

    def ordered(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:  # the PyTorch model's order where known
        return sorted(specs, key=lambda s: s.get("signature_index", 0)) if all(
            "signature_index" in s for s in specs) else list(specs)
    return ([_tensor(s, f"input{i}") for i, s in enumerate(ordered(ins))],
            [_tensor(s, f"output{i}") for i, s in enumerate(ordered(outs))])


def kernel_files(plan: ModelPlan) -> list[str]:
    """The kernel sources (relative to firmware/) the model calls: each call's kernel in the variant it was
    planned for, and for a DSP kernel the reference kernel it runs for shapes it does not handle."""
    files = set()
    for call in plan.calls:
        k = call.kernel
        files.add(k.source)
        if k.variant != "reference":
            files.add(kernels.REFERENCE[k.name.removesuffix(f"_{k.variant}")].source)
    return sorted(files)


_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def _headers(sources: list[Path]) -> list[Path]:
    """The firmware headers `sources` include, transitively: quoted includes found next to the including file or
    in firmware/include (where the firmware build looks)."""
    found: dict[Path, None] = {}
    todo = list(sources)
    while todo:
        src = todo.pop()
        for name in _INCLUDE.findall(src.read_text()):
            if name == HEADER:
                continue
            for d in (src.parent, FIRMWARE_DIR / "include"):
                if (d / name).is_file():
                    h = (d / name).resolve()
                    if h not in found:
                        found[h] = None
                        todo.append(h)
                    break
            else:
                raise UnsupportedError(f"{src.name} includes \"{name}\", which is not in firmware/")
    return sorted(found)


def _c_float(x: float) -> str:
    text = repr(float(x))
    return (text if any(c in text for c in ".e") else text + ".0") + "f"


def _c_int(x: int) -> str:
    return f"({x})" if x < 0 else str(x)


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- the generated files ------------------------------------------------------------------------------------------

def _public_header(facts: dict[str, Any]) -> str:
    ins, outs = facts["inputs"], facts["outputs"]
    rank = max([1, *(len(t["shape"]) for t in ins + outs)])
    lines = [f"/* {HEADER}: the public interface of an edgekit model library (generated by edgekit {__version__}",
             f" * from {facts['tflite']}, sha256 {facts['tflite_sha256'][:16]}..., for the {facts['kernels']} "
             "kernels). Do not edit.",
             " *",
             " * Include only this header. Call edgekit_model_init() once, then per inference: write the inputs",
             " * (edgekit_model_input(i), EDGEKIT_MODEL_INPUTi_BYTES each), call edgekit_model_run() and read the",
             " * outputs (edgekit_model_output(i)). The buffers live in the library's one static arena: the inputs",
             " * are overwritten by a run (write them before every run) and the outputs by the next run. No",
             " * allocation; not reentrant (one inference at a time). A quantized value q stands for",
             " * scale * (q - zero_point). */",
             "#ifndef EDGEKIT_MODEL_H", "#define EDGEKIT_MODEL_H", "", "#include <stdint.h>", "",
             "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
             f"#define EDGEKIT_MODEL_ID 0x{facts['model_id']}u  /* first 4 bytes of the .tflite's sha256 */",
             f"#define EDGEKIT_MODEL_ARENA_BYTES {facts['arena_bytes']}u  /* static working memory (.bss), "
             "inputs and outputs included */",
             f"#define EDGEKIT_MODEL_KERNELS_VARIANT {facts['kernels_variant']}  /* 0 reference, 1 DSP "
             "(EK_KERNELS_VARIANT) */",
             f"#define EDGEKIT_MODEL_NUM_INPUTS {len(ins)}u",
             f"#define EDGEKIT_MODEL_NUM_OUTPUTS {len(outs)}u",
             f"#define EDGEKIT_MODEL_MAX_RANK {rank}u", "",
             "/* status codes returned by edgekit_model_init and edgekit_model_run */"]
    lines += [f"#define EDGEKIT_{k} {v}" for k, v in STATUS.items()]
    lines += ["", "typedef enum {", *(f"    {e} = {i}," for i, (e, _) in enumerate(DTYPES.values(), 1)),
              "} edgekit_dtype;", "",
              "typedef struct {",
              "    const char *name;",
              "    edgekit_dtype dtype;",
              "    uint32_t rank;",
              "    int32_t shape[EDGEKIT_MODEL_MAX_RANK];  /* the first `rank` entries */",
              "    uint32_t bytes;",
              "    float scale;",
              "    int32_t zero_point;",
              "} edgekit_tensor_info;", ""]
    for kind, tensors in (("INPUT", ins), ("OUTPUT", outs)):
        for i, t in enumerate(tensors):
            enum, ctype = DTYPES[t["dtype"]]
            p = f"EDGEKIT_MODEL_{kind}{i}"
            getter = f"edgekit_model_{kind.lower()}({i})"
            lines += [f"/* {kind.lower()} {i} '{t['name']}': {t['dtype']} {t['shape']}, {t['bytes']} bytes */",
                      f"#define {p}_NAME {_c_string(t['name'])}",
                      f"#define {p}_DTYPE {enum}",
                      f"#define {p}_TYPE {ctype}",
                      f"#define {p}_RANK {len(t['shape'])}u",
                      f"#define {p}_SHAPE {{{', '.join(str(d) for d in t['shape'])}}}",
                      f"#define {p}_BYTES {t['bytes']}u",
                      f"#define {p}_SCALE {_c_float(t['scale'])}",
                      f"#define {p}_ZERO_POINT {_c_int(t['zero_point'])}",
                      f"#define {p}_PTR (({ctype} *){getter})", ""]
    lines += ["extern const edgekit_tensor_info edgekit_model_inputs[EDGEKIT_MODEL_NUM_INPUTS];",
              "extern const edgekit_tensor_info edgekit_model_outputs[EDGEKIT_MODEL_NUM_OUTPUTS];", "",
              "/* Check every kernel's parameters once (at start-up): EDGEKIT_OK, or the first kernel's error. */",
              "int32_t edgekit_model_init(void);",
              "/* One inference, from the inputs in the arena to the outputs in the arena: EDGEKIT_OK or an error",
              " * (EDGEKIT_E_NOT_READY before a successful edgekit_model_init). */",
              "int32_t edgekit_model_run(void);",
              "/* Input / output `index` in the arena (NULL for an index out of range). */",
              "void *edgekit_model_input(uint32_t index);",
              "void *edgekit_model_output(uint32_t index);", "",
              "#ifdef __cplusplus", "}", "#endif", "", "#endif", ""]
    return "\n".join(lines)


def _glue(facts: dict[str, Any]) -> str:
    def table(tensors: list[dict[str, Any]]) -> str:
        rows = []
        for t in tensors:
            shape = ", ".join(str(d) for d in t["shape"]) or "0"
            rows.append(f"    {{{_c_string(t['name'])}, {DTYPES[t['dtype']][0]}, {len(t['shape'])}u, {{{shape}}}, "
                        f"{t['bytes']}u, {_c_float(t['scale'])}, {t['zero_point']}}},")
        return "\n".join(rows)

    ins, outs = facts["inputs"], facts["outputs"]
    lines = [f"/* {HEADER} over the generated model (src/model.c). Generated by edgekit {__version__}; do not edit. */",
             f'#include "{HEADER}"', "", '#include "ek_model.h"', '#include "ek_status.h"', ""]
    lines += [f"_Static_assert(EDGEKIT_{k} == EK_{k}, \"EDGEKIT_{k} is ek_status.h's EK_{k}\");" for k in STATUS]
    lines += ["",
              f"static const uint32_t input_offsets[EDGEKIT_MODEL_NUM_INPUTS] = "
              f"{{{', '.join(str(t['offset']) + 'u' for t in ins)}}};",
              f"static const uint32_t output_offsets[EDGEKIT_MODEL_NUM_OUTPUTS] = "
              f"{{{', '.join(str(t['offset']) + 'u' for t in outs)}}};",
              "static int32_t ready;", "",
              "const edgekit_tensor_info edgekit_model_inputs[EDGEKIT_MODEL_NUM_INPUTS] = {", table(ins), "};",
              "const edgekit_tensor_info edgekit_model_outputs[EDGEKIT_MODEL_NUM_OUTPUTS] = {", table(outs), "};", "",
              "int32_t edgekit_model_init(void) {",
              "    ek_status s = ek_model_prepare();",
              "    ready = s == EK_OK;",
              "    return s;",
              "}", "",
              "int32_t edgekit_model_run(void) {",
              "    return ready ? ek_model_eval() : EDGEKIT_E_NOT_READY;",
              "}", "",
              "void *edgekit_model_input(uint32_t index) {",
              "    return index < EDGEKIT_MODEL_NUM_INPUTS ? (void *)(ek_arena + input_offsets[index]) : (void *)0;",
              "}", "",
              "void *edgekit_model_output(uint32_t index) {",
              "    return index < EDGEKIT_MODEL_NUM_OUTPUTS ? (void *)(ek_arena + output_offsets[index]) : (void *)0;",
              "}", ""]
    return "\n".join(lines)


def _cmake_lists(facts: dict[str, Any]) -> str:
    sources = "\n".join(f"    ${{CMAKE_CURRENT_SOURCE_DIR}}/{s}" for s in facts["sources"])
    return f"""# The edgekit model {facts['model_id']} as a static library (generated by edgekit {__version__};
# do not edit).
# In your firmware's CMakeLists.txt:
#     add_subdirectory(path/to/this/folder edgekit_model)
#     target_link_libraries(your_app PRIVATE edgekit_model)
# and #include "{HEADER}". Your toolchain's flags (-mcpu, -mfloat-abi, ...) apply to it as to your code.
cmake_minimum_required(VERSION 3.15)
project({TARGET} LANGUAGES C)

add_library({TARGET} STATIC
{sources}
)
add_library(edgekit::model ALIAS {TARGET})
target_include_directories({TARGET}
    PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}}/include
    PRIVATE ${{CMAKE_CURRENT_SOURCE_DIR}}/src/include)
# the kernel variant the model was planned for ({facts['kernels']}): src/model.c refuses to build with another
target_compile_definitions({TARGET} PRIVATE EK_KERNELS_VARIANT={facts['kernels_variant']})
set_target_properties({TARGET} PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON)
# the kernels are several times slower unoptimized: -O2 where the build names no configuration
target_compile_options({TARGET} PRIVATE $<$<AND:$<CONFIG:>,$<C_COMPILER_ID:GNU,Clang,AppleClang>>:-O2>)
"""


def _zephyr_files(facts: dict[str, Any]) -> dict[str, str]:
    sources = "\n".join(f"    ${{EDGEKIT_MODEL_DIR}}/{s}" for s in facts["sources"])
    module = f"""# Zephyr module of the edgekit model {facts['model_id']} (generated by edgekit {__version__}).
name: {TARGET}
build:
  cmake: zephyr
  kconfig: zephyr/Kconfig
"""
    cmake = f"""# The edgekit model as a Zephyr library (generated by edgekit {__version__}; do not edit).
if(CONFIG_{KCONFIG})
  get_filename_component(EDGEKIT_MODEL_DIR ${{CMAKE_CURRENT_LIST_DIR}}/.. ABSOLUTE)
  zephyr_library_named({TARGET})
  zephyr_library_sources(
{sources}
  )
  zephyr_include_directories(${{EDGEKIT_MODEL_DIR}}/include)
  zephyr_library_include_directories(${{EDGEKIT_MODEL_DIR}}/src/include)
  zephyr_library_compile_definitions(EK_KERNELS_VARIANT={facts['kernels_variant']})
endif()
"""
    kconfig = f"""# The edgekit model {facts['model_id']} (generated by edgekit {__version__}; do not edit).
config {KCONFIG}
\tbool "edgekit model {facts['model_id']} ({facts['kernels']} kernels)"
\thelp
\t  The model compiled by edgekit as a library: include {HEADER}, call
\t  edgekit_model_init() once and edgekit_model_run() per inference.
\t  It keeps a static arena of {facts['arena_bytes']} bytes and allocates nothing.
"""
    return {"zephyr/module.yml": module, "zephyr/CMakeLists.txt": cmake, "zephyr/Kconfig": kconfig}


def _readme(facts: dict[str, Any]) -> str:
    def rows(kind: str, tensors: list[dict[str, Any]]) -> list[str]:
        return [f"| {kind} {i} | `{t['name']}` | {t['dtype']} | {t['shape']} | {t['bytes']} | {t['scale']:.9g} | "
                f"{t['zero_point']} |" for i, t in enumerate(tensors)]

    variant = facts["kernels_variant"]
    return "\n".join([
        f"# edgekit model {facts['model_id']} as a C library", "",
        f"Generated by edgekit {__version__} from `{facts['tflite']}` (sha256 `{facts['tflite_sha256'][:16]}...`) "
        f"for target `{facts['target']}`, {facts['kernels']} kernels. Do not edit: regenerate with "
        "`edgekit compile ... --c-library DIR`.", "",
        f"- static arena: {facts['arena_bytes']} B of RAM (`.bss`), inputs and outputs included; no heap",
        f"- constant data (weights, biases, tables): {facts['const_bytes']} B of flash",
        f"- {facts['macs']:,} multiply-accumulates per inference", "",
        "| tensor | name | dtype | shape | bytes | scale | zero point |", "|---|---|---|---|---|---|---|",
        *rows("input", facts["inputs"]), *rows("output", facts["outputs"]), "",
        "A quantized value `q` stands for `scale * (q - zero_point)`.", "",
        "## API (`include/edgekit_model.h`)", "", "```c",
        "int32_t edgekit_model_init(void);          /* once: EDGEKIT_OK or an error code */",
        "void   *edgekit_model_input(uint32_t i);   /* EDGEKIT_MODEL_INPUTi_BYTES bytes, in the arena */",
        "int32_t edgekit_model_run(void);           /* one inference */",
        "void   *edgekit_model_output(uint32_t i);  /* EDGEKIT_MODEL_OUTPUTi_BYTES bytes, in the arena */",
        "```", "",
        "Per tensor: `EDGEKIT_MODEL_INPUT0_BYTES`, `_SHAPE`, `_RANK`, `_DTYPE`, `_TYPE`, `_SCALE`, `_ZERO_POINT`, "
        "`_NAME`, `_PTR` (a typed pointer), and the same as const data in `edgekit_model_inputs[]` / "
        "`edgekit_model_outputs[]`. Write the inputs before every run (a run reuses their memory); read the "
        "outputs before the next run. One inference at a time.", "",
        "```c", f'#include "{HEADER}"', "",
        "if (edgekit_model_init() != EDGEKIT_OK) { /* a kernel rejected its parameters */ }",
        "int8_t *in = EDGEKIT_MODEL_INPUT0_PTR;",
        "for (uint32_t i = 0; i < EDGEKIT_MODEL_INPUT0_BYTES; ++i) in[i] = sensor_sample_q(i);",
        "if (edgekit_model_run() == EDGEKIT_OK) { const int8_t *out = EDGEKIT_MODEL_OUTPUT0_PTR; /* ... */ }",
        "```", "",
        "## CMake", "", "```cmake",
        "add_subdirectory(path/to/this/folder edgekit_model)",
        "target_link_libraries(app PRIVATE edgekit_model)", "```", "",
        "## Zephyr", "",
        "In the application's `CMakeLists.txt`, before `find_package(Zephyr)` (or list the folder in `west.yml`):",
        "", "```cmake",
        "list(APPEND ZEPHYR_EXTRA_MODULES ${CMAKE_CURRENT_SOURCE_DIR}/path/to/this/folder)", "```", "",
        f"and in `prj.conf`: `CONFIG_{KCONFIG}=y`.", "",
        "## Other build systems (STM32CubeIDE, Keil, Makefiles)", "",
        "Compile every `.c` under `src/` with the include paths `include` and `src/include`, C11, and the define "
        f"`EK_KERNELS_VARIANT={variant}` (`src/model.c` refuses to build without it: the weights are laid out for "
        f"the {facts['kernels']} kernels).", ""])


# ---- writing the folder -------------------------------------------------------------------------------------------

def check_library_dir(outdir: str | Path, force: bool = False, artifact_dir: str | Path | None = None) -> Path:
    """Refuse a --c-library folder whose replacement would lose a user's files, before any slow work (an earlier
    edgekit library or an empty folder is replaced, anything else only with `force`: check_output_dir), nor a
    folder that holds or lies in the artifact's."""
    if artifact_dir is not None:
        resolved, art = Path(outdir).resolve(), Path(artifact_dir).resolve()
        if resolved == art or art in resolved.parents or resolved in art.parents:
            raise InputError(f"--c-library {outdir} and the artifact folder {artifact_dir} overlap",
                             "pass a folder beside the artifact, e.g. --c-library out/model-lib")
    return check_output_dir(outdir, force, marker=MARKER, noun="C library", flag="--c-library",
                            example="out/model-lib")


def library_files(plan: ModelPlan, target: str = "") -> tuple[dict[str, str | Path], dict[str, Any]]:
    """The library's files (relative path -> text, or a firmware file to copy) and its facts, for `plan`."""
    ins, outs = io_tensors(plan)
    for t in ins + outs:
        if t["dtype"] not in DTYPES:
            raise UnsupportedError(f"model I/O tensor '{t['name']}' is {t['dtype']}; the C library describes "
                                   f"{', '.join(DTYPES)} tensors")
    kernel_srcs = [FIRMWARE_DIR / f for f in kernel_files(plan)]
    model_c = emit_c(plan)
    with tempfile.TemporaryDirectory() as tmp:  # model.c's own includes count too
        probe = Path(tmp) / "model.c"
        probe.write_text(model_c)
        headers = _headers([*kernel_srcs, probe, FIRMWARE_DIR / "include" / "ek_model.h",
                            FIRMWARE_DIR / "include" / "ek_status.h"])
        headers = sorted(set(headers) | {(FIRMWARE_DIR / "include" / h).resolve()
                                         for h in ("ek_model.h", "ek_status.h")})
    copies: dict[str, Path] = {}
    for src in kernel_srcs:
        copies["src/" + src.relative_to(FIRMWARE_DIR).as_posix()] = src
    for h in headers:
        rel = h.relative_to(FIRMWARE_DIR.resolve()).as_posix()
        copies["src/" + rel if rel.startswith("kernels/") else "src/include/" + h.name] = h
    sources = ["src/edgekit_model.c", "src/model.c", *sorted(k for k in copies if k.endswith(".c"))]
    facts = {"schema_version": 1, "edgekit_version": __version__, "target": target, "tflite": plan.tflite_name,
             "tflite_sha256": plan.tflite_sha256, "model_id": f"{plan.model_id:08x}",
             "kernels": plan.variant, "kernels_variant": kernels.variant_id(plan.variant),
             "arena_bytes": plan.arena.arena_bytes, "const_bytes": plan.const_bytes, "macs": plan.macs,
             "inputs": ins, "outputs": outs, "sources": sources,
             "headers": [f"include/{HEADER}", *sorted(k for k in copies if k.endswith(".h"))],
             "compile_definitions": {"EK_KERNELS_VARIANT": kernels.variant_id(plan.variant)},
             "cmake_target": TARGET, "kconfig": f"CONFIG_{KCONFIG}"}
    files: dict[str, str | Path] = {f"include/{HEADER}": _public_header(facts), "src/edgekit_model.c": _glue(facts),
                                    "src/model.c": model_c, **copies, "CMakeLists.txt": _cmake_lists(facts),
                                    **_zephyr_files(facts), "README.md": _readme(facts),
                                    MARKER: json.dumps(facts, indent=2) + "\n"}
    return files, facts


def write_library(plan: ModelPlan, outdir: str | Path, *, target: str = "", force: bool = False) -> CLibrary:
    """Write the library for `plan` into `outdir`, all or nothing (a staging sibling renamed into place)."""
    outdir = check_library_dir(outdir, force)
    files, facts = library_files(plan, target)
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    except OSError as exc:
        raise InputError(f"cannot write the C library under {outdir.parent}: {exc.strerror}",
                         "pass --c-library a folder you can write") from None
    try:
        for rel, content in files.items():
            dst = staging / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, dst)
            else:
                dst.write_text(content)
        interrupts.check()
        replace_folder(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CLibrary(outdir, facts)


def write_c_library(source: Any, outdir: str | Path, *, dsp: bool | None = None, force: bool = False) -> CLibrary:
    """Write the model as a self-contained C library folder for the user's own firmware (CMake, Zephyr module).

    source: a c-firmware Artifact (from compile_model for a microcontroller target), its folder, or a full-INT8
    .tflite (then `dsp` says which kernel variant to plan for: True for cores with the DSP extension, e.g.
    Cortex-M4/M7/M33/M55). For an artifact, `dsp` defaults to the variant its firmware was built with.
    outdir: an earlier edgekit C library or an empty folder is replaced; anything else only with `force`."""
    if isinstance(source, (str, Path)) and Path(source).suffix == ".tflite":
        if dsp is None:
            raise InputError("write_c_library from a .tflite needs dsp=True or dsp=False (the kernel variant)")
        check_library_dir(outdir, force)
        return write_library(plan_model(source, dsp), outdir, force=force)
    art = source if isinstance(source, Artifact) else Artifact.load(source)
    firmware = art.manifest.get("export", {}).get("firmware")
    if art.format != "c-firmware" or not firmware:
        raise UnsupportedError(f"the artifact at {art.path} is {art.format}, not c-firmware; a C library comes from "
                               "a microcontroller target's compile", "compile with --target a microcontroller "
                               "profile (edgekit targets list) and --quantize int8")
    check_library_dir(outdir, force, art.path)
    if dsp is None:
        dsp = firmware.get("build", {}).get("kernels") or "reference"
    plan = plan_model(art.path / "model.tflite", dsp)
    return write_library(plan, outdir, target=art.manifest.get("target", {}).get("name", ""), force=force)
