"""The firmware kernels' C interface, described once for the host. The C side is firmware/include/ek_kernels.h;
tests/export/mcu/test_kernels.py parses that header and checks that the two agree.

Per kernel (`Kernel`): its C functions (ek_<op>_prepare / _scratch_bytes / _eval; a DSP kernel's names carry
`_dsp`, an MVE kernel's `_mve`; the variant a build runs comes from the profile's features: VARIANTS), the file
that defines them, its parameter struct field by field (lower.py fills the fields with values, codegen.py writes
them as C initializers), its activation inputs, its scratch-size formula (a mirror of the C *_scratch_bytes
function: the host plans the scratch in the arena) and its weight packing (a mirror of the DSP and MVE kernels'
*_pack functions: the order in which those read weights, and the MVE kernels' folded bias).

Every kernel has the same entry points (see ek_kernels.h):
    ek_status <name>_prepare(const <params> *p, size_t scratch_bytes);   all validation, the scratch size too
    int32_t <name>_scratch_bytes(const <params> *p);
    ek_status <name>_eval(const <params> *p, <inputs>, int8_t *output, void *scratch);
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# Field types: "int32_t"; "int32_t[4]"; a pointer to constant data, "const int32_t *" or "const int8_t *" (the
# value is the name of a constant array of the call, or None for NULL); or the name of a struct below.
I32, I32X4, P_I32, P_I8 = "int32_t", "int32_t[4]", "const int32_t *", "const int8_t *"


@dataclass(frozen=True)
class Struct:
    name: str
    fields: tuple[tuple[str, str], ...]  # (field, type) in declaration order

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f for f, _ in self.fields)

    def check(self, values: dict[str, Any]) -> None:
        """Values for exactly this struct's fields (a lowering that misses or invents one is a bug)."""
        if set(values) != set(self.names):
            missing, extra = set(self.names) - set(values), set(values) - set(self.names)
            raise ValueError(f"{self.name}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")


def _i32(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, I32) for n in names)


DIMS = Struct("ek_dims", _i32("n", "h", "w", "c"))
CONV_PARAMS = Struct("ek_conv_params", (
    ("input", "ek_dims"), ("filter", "ek_dims"), ("output", "ek_dims"),
    *_i32("stride_h", "stride_w", "dilation_h", "dilation_w", "pad_top", "pad_bottom", "pad_left", "pad_right",
          "depth_multiplier", "input_offset", "output_offset", "act_min", "act_max"),
    ("multiplier", P_I32), ("shift", P_I32), ("weights", P_I8), ("bias", P_I32)))
FC_PARAMS = Struct("ek_fc_params", (
    *_i32("batches", "in_features", "out_features", "input_offset", "output_offset", "act_min", "act_max"),
    ("multiplier", P_I32), ("shift", P_I32), ("weights", P_I8), ("bias", P_I32)))
POOL_PARAMS = Struct("ek_pool_params", (
    ("input", "ek_dims"), ("output", "ek_dims"),
    *_i32("filter_h", "filter_w", "stride_h", "stride_w", "pad_h", "pad_w", "act_min", "act_max")))
BINARY_SHAPE = Struct("ek_binary_shape", (
    ("broadcast", I32), ("size", I32), ("shape", I32X4), ("stride1", I32X4), ("stride2", I32X4)))
ADD_PARAMS = Struct("ek_add_params", (
    ("shape", "ek_binary_shape"),
    *_i32("input1_offset", "input2_offset", "output_offset", "left_shift", "input1_multiplier", "input1_shift",
          "input2_multiplier", "input2_shift", "output_multiplier", "output_shift", "act_min", "act_max"),
    ("input1_table", P_I32), ("input2_table", P_I32)))
MUL_PARAMS = Struct("ek_mul_params", (
    ("shape", "ek_binary_shape"),
    *_i32("input1_offset", "input2_offset", "output_offset", "output_multiplier", "output_shift", "act_min",
          "act_max")))
SOFTMAX_PARAMS = Struct("ek_softmax_params", _i32("rows", "depth", "input_multiplier", "input_left_shift",
                                                  "diff_min"))
MEAN_PARAMS = Struct("ek_mean_params", (
    ("keep_count", I32X4), ("keep_stride", I32X4), ("reduce_count", I32X4), ("reduce_stride", I32X4),
    *_i32("input_zero_point", "output_zero_point", "multiplier", "shift")))
TRANSPOSE_PARAMS = Struct("ek_transpose_params", (("in_shape", I32X4), ("perm", I32X4)))
PAD_PARAMS = Struct("ek_pad_params", (("in_shape", I32X4), ("before", I32X4), ("after", I32X4), ("value", I32)))
LUT_PARAMS = Struct("ek_lut_params", (("size", I32), ("table", P_I8)))
CONCAT_PARAMS = Struct("ek_concat_params", (
    ("inputs", I32), ("outer", I32), ("inner", P_I32), ("table", P_I32), ("tables", P_I8)))
SLICE_PARAMS = Struct("ek_slice_params", (("count", I32X4), ("step", I32X4), ("offset", I32), ("input_size", I32)))
GATHER_PARAMS = Struct("ek_gather_params", _i32("batches", "outer", "axis_size", "coords", "inner"))

STRUCTS: dict[str, Struct] = {s.name: s for s in (
    DIMS, CONV_PARAMS, FC_PARAMS, POOL_PARAMS, BINARY_SHAPE, ADD_PARAMS, MUL_PARAMS, SOFTMAX_PARAMS, MEAN_PARAMS,
    TRANSPOSE_PARAMS, PAD_PARAMS, LUT_PARAMS, CONCAT_PARAMS, SLICE_PARAMS, GATHER_PARAMS)}

CONCAT_MAX_INPUTS = 16  # EK_CONCAT_MAX_INPUTS


# ---- weight packing: mirrors of the DSP kernels' *_pack functions -------------------------------------------------

def pack_conv_dsp(weights: np.ndarray, in_c: int) -> np.ndarray:
    """Mirror of ek_conv2d_s8_dsp_pack: OHWI weights with channel pairs interleaved per group of 4 (the DSP kernel's
    order) when the DSP path applies, else unchanged."""
    out_c = weights.shape[0]
    flat = weights.reshape(out_c, -1)
    if weights.shape[3] != in_c:
        return flat.ravel()
    k = (flat.shape[1] + 3) // 4 * 4  # columns padded with zeros to whole groups of 4
    flat = np.pad(flat, ((0, 0), (0, k - flat.shape[1])))
    pairs = out_c // 2 * 2
    packed = flat[:pairs].reshape(pairs // 2, 2, k // 4, 4).transpose(0, 2, 1, 3).ravel()
    return np.concatenate([packed, flat[pairs:].ravel()])


def pack_depthwise_dsp(weights: np.ndarray, bias: np.ndarray | None, input_offset: int,
                       plane: bool = False, transposed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mirror of ek_depthwise_conv2d_s8_dsp_pack (depth multiplier 1, depth a multiple of 4). The 4-channel path:
    1HWC weights widened to int16, per group of 4 channels per tap the lanes (c0, c2, c1, c3); the 3x3 path
    (`plane`): per channel, per filter row (column when `transposed`: the plane holds image columns as rows),
    the doubled weights (w0, w1, w1, w2) as int16 lanes; both as little-endian bytes. And the bias plus input_offset * the sum of each channel's weights, wrapped to int32 as
    the device's arithmetic does."""
    c = weights.shape[3]
    taps = weights.reshape(-1, c).astype(np.int64)                       # [tap, channel]
    if plane:
        rows = (2 * taps).T.reshape(c, 3, 3)                             # [channel, row, column]
        if transposed:
            rows = rows.transpose(0, 2, 1)
        lanes = rows[:, :, [0, 1, 1, 2]].ravel()
    else:
        lanes = taps.reshape(-1, c // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2).ravel()
    packed = lanes.astype(np.int16).view(np.uint8).view(np.int8).astype(np.int64)
    base = np.zeros(c, np.int64) if bias is None else np.asarray(bias, np.int64)
    folded = base + input_offset * taps.sum(axis=0)
    folded = (folded + 2**31) % 2**32 - 2**31
    return packed, folded


def pack_fc_dsp(weights: np.ndarray) -> np.ndarray:
    """Mirror of ek_fully_connected_s8_dsp_pack: blocks of 4 rows interleaved per group of 4 features, each row's
    last in_features % 4 after its block, rows past a multiple of 4 plain."""
    out_f, in_f = weights.shape
    groups, blocks = in_f // 4, out_f // 4
    parts = []
    for b in range(blocks):
        rows = weights[4 * b:4 * b + 4]
        parts.append(rows[:, :4 * groups].reshape(4, groups, 4).transpose(1, 0, 2).ravel())
        parts.append(rows[:, 4 * groups:].ravel())
    parts.append(weights[4 * blocks:].ravel())
    return np.concatenate(parts)


# A kernel's packing: (params, weights in TFLite's layout, bias or None) -> (flat weights as the kernel reads
# them, the bias it reads or None).
Pack = Callable[[dict[str, Any], np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]


def _plain(p: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    return weights.ravel(), bias


def _pack_conv(p: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray,
                                                                                         np.ndarray | None]:
    return pack_conv_dsp(weights, p["input"][3]), bias


def _depthwise_dsp_applies(p: dict[str, Any]) -> bool:  # dsp_applies in ek_depthwise_conv2d_s8_dsp.c
    return p["depth_multiplier"] == 1 and p["input"][3] % 4 == 0


def _depthwise_plane_applies(p: dict[str, Any]) -> bool:  # plane_applies in ek_depthwise_conv2d_s8_dsp.c
    return (p["depth_multiplier"] == 1 and p["input"][3] % 4 == 0 and tuple(p["filter"][1:3]) == (3, 3)
            and p["dilation_h"] == 1 and p["dilation_w"] == 1 and p["stride_h"] >= 1 and p["stride_w"] >= 1
            and (p["stride_w"] in (1, 2) or p["stride_h"] in (1, 2)))


def _depthwise_plane_transposed(p: dict[str, Any]) -> bool:  # plane_transposed: sweep the longer output axis
    return p["stride_h"] in (1, 2) and (p["output"][1] > p["output"][2] or p["stride_w"] not in (1, 2))


def _pack_depthwise(p: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray,
                                                                                              np.ndarray | None]:
    if not _depthwise_dsp_applies(p):
        return weights.ravel(), bias
    plane = _depthwise_plane_applies(p)
    return pack_depthwise_dsp(weights, bias, p["input_offset"], plane=plane,
                              transposed=plane and _depthwise_plane_transposed(p))


def _pack_fc(p: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray,
                                                                                       np.ndarray | None]:
    return pack_fc_dsp(weights), bias


# ---- scratch sizes: mirrors of the C *_scratch_bytes functions ------------------------------------------------------

def _no_scratch(p: dict[str, Any]) -> int:
    return 0


CONV_PAIR_WORDS = 6  # PAIR_WORDS in ek_conv2d_s8_dsp.c


def _conv_dsp_scratch(p: dict[str, Any]) -> int:
    """ek_conv2d_s8_dsp_scratch_bytes, when the DSP path applies (not grouped): two int16 im2col columns padded to
    whole groups of 4 (kp values), the fast path's requantization words per output channel pair, a dummy output
    row (out_c bytes rounded up to 4) and one int8 column (kp + 4 bytes)."""
    out_c, kh, kw, depth = p["filter"]
    if depth != p["input"][3]:
        return 0
    kp = (kh * kw * depth + 3) // 4 * 4
    return 4 * kp + out_c // 2 * CONV_PAIR_WORDS * 4 + (out_c + 3) // 4 * 4 + kp + 4


def _transpose_conv_dsp_scratch(p: dict[str, Any]) -> int:
    """ek_transpose_conv_s8_dsp_scratch_bytes: per filter tap, its input pixel as int16 and its weight offset,
    when the DSP path applies (input depth a multiple of 4)."""
    _, kh, kw, depth = p["filter"]
    return kh * kw * (2 * depth + 4) if p["input"][3] % 4 == 0 else 0


DW_SCRATCH_BUDGET = 4096  # EK_DW_SCRATCH_BUDGET
DW_GROUP = 4              # EK_DW_GROUP


def _depthwise_dsp_scratch(p: dict[str, Any]) -> int:
    """ek_depthwise_conv2d_s8_dsp_scratch_bytes: on the 3x3 path, 4 int16 planes of a band of plane rows (even
    width; image columns when transposed) and the band's int32 accumulators; the band is every output row when that fits the budget, else as
    many as fit (at least one)."""
    if not _depthwise_plane_applies(p):
        return 0
    out_h, out_w, sh, sw = p["output"][1], p["output"][2], p["stride_h"], p["stride_w"]
    if _depthwise_plane_transposed(p):  # the plane's rows are the image's columns
        out_h, out_w, sh, sw = out_w, out_h, sw, sh
    pw = ((out_w - 1) * sw + 3 + 1) & ~1

    def size(band: int) -> int:
        return DW_GROUP * ((band - 1) * sh + 3) * pw * 2 + band * out_w * 4
    band = out_h
    while band > 1 and size(band) > DW_SCRATCH_BUDGET:
        band -= 1
    return size(band)


def _fc_dsp_scratch(p: dict[str, Any]) -> int:
    """ek_fully_connected_s8_dsp_scratch_bytes: the input as int16, whole groups of 4."""
    return p["in_features"] // 4 * 4 * 2


@dataclass(frozen=True)
class Kernel:
    name: str                    # C prefix of its functions, e.g. ek_conv2d_s8 or ek_conv2d_s8_dsp
    params: Struct
    inputs: int = 1              # int8 input pointers before the output (input, or input1 and input2)
    input_list: bool = False     # the inputs as one array of pointers instead (CONCATENATION)
    variant: str = "reference"   # its folder: firmware/kernels/<variant>/<name>.c
    scratch: Callable[[dict[str, Any]], int] = _no_scratch
    pack: Pack = _plain
    c_pack: str | None = None    # the C function `pack` mirrors (DSP kernels)

    @property
    def prepare(self) -> str:
        return f"{self.name}_prepare"

    @property
    def scratch_bytes(self) -> str:
        return f"{self.name}_scratch_bytes"

    @property
    def eval(self) -> str:
        return f"{self.name}_eval"

    @property
    def source(self) -> str:
        """The file that defines the kernel, relative to firmware/."""
        return f"kernels/{self.variant}/{self.name}.c"

    def input_args(self) -> list[str]:
        if self.input_list:
            return ["const int8_t *const *inputs"]
        return ["const int8_t *input"] if self.inputs == 1 else \
            [f"const int8_t *input{k}" for k in range(1, self.inputs + 1)]

    def prototypes(self) -> dict[str, str]:
        """The C declarations of its three functions (without the semicolon), as ek_kernels.h has them."""
        p = f"const {self.params.name} *p"
        eval_args = ", ".join([p, *self.input_args(), "int8_t *output", "void *scratch"])
        return {"prepare": f"ek_status {self.prepare}({p}, size_t scratch_bytes)",
                "scratch_bytes": f"int32_t {self.scratch_bytes}({p})",
                "eval": f"ek_status {self.eval}({eval_args})"}


_REFERENCE = [
    Kernel("ek_conv2d_s8", CONV_PARAMS),
    Kernel("ek_depthwise_conv2d_s8", CONV_PARAMS),
    Kernel("ek_fully_connected_s8", FC_PARAMS),
    Kernel("ek_max_pool2d_s8", POOL_PARAMS),
    Kernel("ek_avg_pool2d_s8", POOL_PARAMS),
    Kernel("ek_add_s8", ADD_PARAMS, inputs=2),
    Kernel("ek_sub_s8", ADD_PARAMS, inputs=2),
    Kernel("ek_mul_s8", MUL_PARAMS, inputs=2),
    Kernel("ek_softmax_s8", SOFTMAX_PARAMS),
    Kernel("ek_mean_s8", MEAN_PARAMS),
    Kernel("ek_transpose_s8", TRANSPOSE_PARAMS),
    Kernel("ek_pad_s8", PAD_PARAMS),
    Kernel("ek_lut_s8", LUT_PARAMS),
    Kernel("ek_concat_s8", CONCAT_PARAMS, input_list=True),
    Kernel("ek_slice_s8", SLICE_PARAMS),
    Kernel("ek_transpose_conv_s8", CONV_PARAMS),
    Kernel("ek_gather_s8", GATHER_PARAMS, inputs=2),  # values, int32 indices
]
# The DSP variants, by the reference kernel they stand in for.
_DSP = {
    "ek_conv2d_s8": Kernel("ek_conv2d_s8_dsp", CONV_PARAMS, variant="dsp", scratch=_conv_dsp_scratch,
                           pack=_pack_conv, c_pack="ek_conv2d_s8_dsp_pack"),
    "ek_depthwise_conv2d_s8": Kernel("ek_depthwise_conv2d_s8_dsp", CONV_PARAMS, variant="dsp",
                                     scratch=_depthwise_dsp_scratch, pack=_pack_depthwise,
                                     c_pack="ek_depthwise_conv2d_s8_dsp_pack"),
    "ek_fully_connected_s8": Kernel("ek_fully_connected_s8_dsp", FC_PARAMS, variant="dsp", scratch=_fc_dsp_scratch,
                                    pack=_pack_fc, c_pack="ek_fully_connected_s8_dsp_pack"),
    "ek_transpose_conv_s8": Kernel("ek_transpose_conv_s8_dsp", CONV_PARAMS, variant="dsp",
                                   scratch=_transpose_conv_dsp_scratch),  # weights in the reference order
}


def _conv_mve_applies(p: dict[str, Any]) -> bool:  # mve_applies in ek_conv2d_s8_mve.c: not grouped
    return p["filter"][3] == p["input"][3]


def _depthwise_mve_applies(p: dict[str, Any]) -> bool:  # mve_applies in ek_depthwise_conv2d_s8_mve.c
    return p["depth_multiplier"] == 1 and p["filter"][1] * p["filter"][2] <= 64


def _conv_mve_scratch(p: dict[str, Any]) -> int:
    """ek_conv2d_s8_mve_scratch_bytes: two int8 window columns padded to a multiple of 16 bytes; none for a 1x1
    conv without padding whose depth is a multiple of 16 (its columns are the input pixels) or a grouped one (the
    reference kernel)."""
    out_c, kh, kw, depth = p["filter"]
    in_place = kh == 1 and kw == 1 and depth % 16 == 0 and not any(
        p[k] for k in ("pad_top", "pad_bottom", "pad_left", "pad_right"))
    return 0 if in_place or not _conv_mve_applies(p) else 2 * (-(-kh * kw * depth // 16) * 16)


def _depthwise_mve_scratch(p: dict[str, Any]) -> int:
    """ek_depthwise_conv2d_s8_mve_scratch_bytes: a row of input zero points (depth bytes rounded up to 4)."""
    return (p["output"][3] + 3) // 4 * 4 if _depthwise_mve_applies(p) else 0


def fold_input_offset(bias: np.ndarray | None, weight_sums: np.ndarray, input_offset: int) -> np.ndarray:
    """bias + input_offset * the sum of each output channel's weights, wrapped to int32 as the device's arithmetic
    does (the MVE kernels' packing: ek_<op>_mve_pack)."""
    base = np.zeros(len(weight_sums), np.int64) if bias is None else np.asarray(bias, np.int64)
    folded = base + input_offset * np.asarray(weight_sums, np.int64)
    return (folded + 2**31) % 2**32 - 2**31


def pack_rows_mve(weights: np.ndarray) -> np.ndarray:
    """Mirror of ek_mve_pack_rows (kernels/mve/ek_mve.h): rows (output channels, each flattened) in groups of 4,
    the last completed with zero rows; each row padded with zeros to a multiple of 16; per group, per 16-byte
    chunk, the 4 rows' chunks one after another."""
    w = weights.reshape(weights.shape[0], -1).astype(np.int64)
    rows, depth = w.shape
    padded = np.zeros((-(-rows // 4) * 4, -(-depth // 16) * 16), np.int64)
    padded[:rows, :depth] = w
    return padded.reshape(padded.shape[0] // 4, 4, padded.shape[1] // 16, 16).transpose(0, 2, 1, 3).ravel()


def _pack_conv_mve(p: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray,
                                                                                             np.ndarray | None]:
    """Mirror of ek_conv2d_s8_mve_pack: OHWI rows packed (pack_rows_mve), the input offset folded into the bias;
    a grouped conv (the reference kernel) as it is."""
    if not _conv_mve_applies(p):
        return weights.ravel(), bias
    sums = weights.reshape(weights.shape[0], -1).astype(np.int64).sum(axis=1)
    return pack_rows_mve(weights), fold_input_offset(bias, sums, p["input_offset"])


def _pack_depthwise_mve(p: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray,
                                                                                                  np.ndarray | None]:
    """Mirror of ek_depthwise_conv2d_s8_mve_pack: 1HWC weights as they are, the input offset folded into the bias."""
    if not _depthwise_mve_applies(p):
        return weights.ravel(), bias
    sums = weights.reshape(-1, weights.shape[3]).astype(np.int64).sum(axis=0)
    return weights.ravel(), fold_input_offset(bias, sums, p["input_offset"])


def _pack_fc_mve(p: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray,
                                                                                           np.ndarray | None]:
    """Mirror of ek_fully_connected_s8_mve_pack: [out][in] rows packed (pack_rows_mve), the input offset folded into
    the bias."""
    sums = weights.reshape(weights.shape[0], -1).astype(np.int64).sum(axis=1)
    return pack_rows_mve(weights), fold_input_offset(bias, sums, p["input_offset"])


# The MVE (Helium) variants: conv and FC weights packed by rows (pack_rows_mve), depthwise in the reference order,
# the input offset folded into the bias; other ops take the DSP kernel (an MVE build links reference/, dsp/, mve/).
_MVE = {
    "ek_conv2d_s8": Kernel("ek_conv2d_s8_mve", CONV_PARAMS, variant="mve", scratch=_conv_mve_scratch,
                           pack=_pack_conv_mve, c_pack="ek_conv2d_s8_mve_pack"),
    "ek_depthwise_conv2d_s8": Kernel("ek_depthwise_conv2d_s8_mve", CONV_PARAMS, variant="mve",
                                     scratch=_depthwise_mve_scratch, pack=_pack_depthwise_mve,
                                     c_pack="ek_depthwise_conv2d_s8_mve_pack"),
    "ek_fully_connected_s8": Kernel("ek_fully_connected_s8_mve", FC_PARAMS, variant="mve", pack=_pack_fc_mve,
                                    c_pack="ek_fully_connected_s8_mve_pack"),
}
REFERENCE: dict[str, Kernel] = {k.name: k for k in _REFERENCE}
KERNELS: tuple[Kernel, ...] = (*_REFERENCE, *_DSP.values(), *_MVE.values())

# The kernel variants, in EK_KERNELS_VARIANT order, each with the profile feature it needs ([hardware] features)
# and its kernels; a variant's build also links every earlier one's folder, and an op without a kernel in the
# variant takes the nearest earlier variant's.
VARIANTS: tuple[str, ...] = ("reference", "dsp", "mve")
VARIANT_FEATURE = {"dsp": "dsp", "mve": "mve"}
_BY_VARIANT: dict[str, dict[str, Kernel]] = {"reference": REFERENCE, "dsp": _DSP, "mve": _MVE}

Variant = bool | str  # a variant's name; True / False: "dsp" / "reference" (the older boolean form)


def variant_name(variant: Variant) -> str:
    if isinstance(variant, bool):
        return "dsp" if variant else "reference"
    if variant not in VARIANTS:
        raise ValueError(f"unknown kernel variant {variant!r} (one of {', '.join(VARIANTS)})")
    return variant


def variant_for(features: Any) -> str:
    """The last variant whose feature the profile has (e.g. ["dsp", "mve"] -> "mve")."""
    return [v for v in VARIANTS if v == "reference" or VARIANT_FEATURE[v] in features][-1]


def variant_folders(variant: Variant) -> list[str]:
    """The firmware/kernels/ folders a build of `variant` compiles."""
    return list(VARIANTS[:VARIANTS.index(variant_name(variant)) + 1])


def variant_id(variant: Variant) -> int:
    """EK_KERNELS_VARIANT, which build.py defines: 0 reference, 1 DSP, 2 MVE (the agent's INFO reports it; model.c
    checks that the build runs the variant it was planned for)."""
    return VARIANTS.index(variant_name(variant))


def select(name: str, variant: Variant) -> Kernel:
    """The kernel `name` (a reference kernel, e.g. "ek_conv2d_s8") in the variant a build runs: the variant's own
    version where there is one, else the nearest earlier variant's (an MVE build runs the DSP TRANSPOSE_CONV)."""
    for v in reversed(variant_folders(variant)):
        if name in _BY_VARIANT[v]:
            return _BY_VARIANT[v][name]
    return REFERENCE[name]
