/* int8 kernels: parameter structs and one entry-point shape for every kernel.
 *
 * Every kernel ek_<op> (e.g. ek_conv2d_s8), with P its parameter struct (e.g. ek_conv_params), has three
 * functions, in one file of its own:
 *   ek_status ek_<op>_prepare(const P *p, size_t scratch_bytes);   once, before the first eval
 *   int32_t   ek_<op>_scratch_bytes(const P *p);
 *   ek_status ek_<op>_eval(const P *p, <inputs>, int8_t *output, void *scratch);
 * prepare does ALL the validation: the parameters, and that the caller's scratch buffer of scratch_bytes is at
 * least ek_<op>_scratch_bytes(p). eval then trusts them and only computes. <inputs> is `const int8_t *input`,
 * `const int8_t *input1, const int8_t *input2` (ADD, SUB, MUL; GATHER: values, indices) or
 * `const int8_t *const *inputs` (CONCATENATION).
 * Scratch is caller-owned (the host plans it in the arena, 8-byte aligned); NULL where scratch_bytes is 0.
 *
 * Two variants, in two folders that edgekit/export/mcu/build.py picks from the device profile:
 * - kernels/reference/ek_<op>.c: portable C, the integer semantics of TFLite's int8 reference kernels. Every
 *   image links them.
 * - kernels/dsp/ek_<op>_dsp.c: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV optimised for cores
 *   with the DSP extension (SMLAD/SXTB16), bit-exact with the reference, built only for such cores. Their
 *   functions carry the variant in the name (ek_conv2d_s8_dsp_eval, ...), so both variants link into one image with
 *   no renaming: a DSP kernel runs the reference one for shapes it does not handle, and the kernel test image
 *   (firmware/tests/ek_kernel_test.c) calls both to compare them. They read weights in a packed order (and need
 *   more scratch) that the host writes (TRANSPOSE_CONV: the reference order, more scratch).
 * The generated model.c calls the variant it was planned for (packing and scratch sizes differ), and checks that
 * the build's EK_KERNELS_VARIANT (0 reference, 1 DSP, 2 MVE; a -D from build.py) is that one. An MVE build
 * (kernels/mve/ek_<op>_mve.c) links all three folders: ops without an MVE kernel take the DSP one.
 *
 * edgekit/export/mcu/kernels.py describes every kernel here (names, parameter structs field by field, inputs,
 * scratch formula, weight packing) for the host; tests/export/mcu/test_kernels.py parses this header and checks
 * the two agree. Tensors are NHWC; all pointers are caller-owned; no kernel allocates.
 */
#ifndef EK_KERNELS_H
#define EK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "ek_status.h"

typedef struct {
    int32_t n, h, w, c;
} ek_dims;

/* CONV_2D (filter OHWI, grouped when filter.c < input.c) and DEPTHWISE_CONV_2D (filter 1HWC).
 * Padding is explicit per side: TFLite's SAME padding puts an odd extra row at the bottom / right, and a PAD
 * folded into the convolution by the host can pad any side by any amount. Taps in the padding read the input
 * zero point (they add nothing), and the output size is exactly
 * (input + pad_top + pad_bottom - dilated filter) / stride + 1.
 * TRANSPOSE_CONV takes the same struct (filter OHWI, dilation 1, depth_multiplier unused): input pixel (y, x)
 * reaches output (y * stride_h - pad_top + fy, x * stride_w - pad_left + fx); the output size is the model's
 * (TFLite's output_shape tensor) and pad_bottom / pad_right are the rest of TFLite's total padding. */
typedef struct {
    ek_dims input, filter, output;
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_bottom, pad_left, pad_right;
    int32_t depth_multiplier;           /* depthwise only */
    int32_t input_offset;               /* -input zero point */
    int32_t output_offset;              /* output zero point */
    int32_t act_min, act_max;           /* fused activation, already in the output's quantized domain */
    const int32_t *multiplier, *shift;  /* per output channel */
    const int8_t *weights;
    const int32_t *bias;                /* may be NULL */
} ek_conv_params;

/* FULLY_CONNECTED: weights [out_features][in_features]. */
typedef struct {
    int32_t batches, in_features, out_features;
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multiplier, *shift;  /* per output feature (per-tensor models repeat one value) */
    const int8_t *weights;
    const int32_t *bias;                /* may be NULL */
} ek_fc_params;

/* MAX_POOL_2D and AVERAGE_POOL_2D */
typedef struct {
    ek_dims input, output;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} ek_pool_params;

/* The index space of a binary element-wise op (ADD, SUB, MUL) with TFLite's broadcasting. broadcast = 0: the
 * inputs and output have the same shape, one flat loop over size elements (the fast path). Otherwise output
 * element (i0, i1, i2, i3) of shape[] reads input1[sum ik * stride1[k]] and input2[sum ik * stride2[k]]; a stride
 * is 0 along a dimension that input broadcasts (a scalar: all 0). The host merges adjacent dimensions that
 * broadcast alike, so inputs of any rank fit when at most 4 such groups remain. */
typedef struct {
    int32_t broadcast;
    int32_t size;                       /* output elements */
    int32_t shape[4];
    int32_t stride1[4], stride2[4];
} ek_binary_shape;

/* ADD and SUB int8 (TFLite's int8 AddFunc / SUB: both inputs rescaled to a common scale, left_shift 20). Each
 * input's rescaled value depends on its int8 value alone: the host may give it as a 256-entry table (index =
 * value + 128), which saves two of the three requantizations per element; NULL computes it. */
typedef struct {
    ek_binary_shape shape;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    const int32_t *input1_table, *input2_table;  /* both or neither */
} ek_add_params;

/* MUL int8 (TFLite's int8 MulElementwise: one multiplier for input1_scale * input2_scale / output_scale). */
typedef struct {
    ek_binary_shape shape;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} ek_mul_params;

/* SOFTMAX over the last dimension; int8 output with scale 1/256 and zero point -128 (TFLite requires it). */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} ek_softmax_params;

/* MEAN int8 over any axes of a tensor of up to 4 dims, keeping or dropping them (the output layout is the same):
 * TFLite Micro's QuantizedMeanOrSum, the sum requantized by input_scale / output_scale with 1/count folded in by
 * the host (equal quantizations included: TFLite Micro has no truncating-division path for int8 any more). The
 * host splits the input's dims into the kept ones (the output's, in order) and the reduced ones, each given as
 * up to 4 loops (count, input stride; unused loops count 1), neighbours merged: output element (k0..k3) is the
 * mean of input[sum kj * keep_stride[j] + sum rj * reduce_stride[j]] over (r0..r3) of reduce_count[]. */
typedef struct {
    int32_t keep_count[4], keep_stride[4];
    int32_t reduce_count[4], reduce_stride[4];
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;          /* input_scale / output_scale / count, as TFLite folds it */
} ek_mean_params;

/* TRANSPOSE of up to 4 dims (shorter ranks are padded with leading 1s by the host). */
typedef struct {
    int32_t in_shape[4];
    int32_t perm[4];
} ek_transpose_params;

/* PAD / PADV2 of up to 4 dims (shorter ranks padded with leading 1s by the host). */
typedef struct {
    int32_t in_shape[4];
    int32_t before[4], after[4];        /* padding per dimension */
    int32_t value;                      /* the padding byte: output zero point (PAD) or the constant (PADV2) */
} ek_pad_params;

/* A function of one int8 value, as a 256-entry table (index = input + 128) the host computed with TFLite's
 * integer arithmetic: HARD_SWISH, LOGISTIC, TANH and int8 -> int8 QUANTIZE (requantization). */
typedef struct {
    int32_t size;
    const int8_t *table;
} ek_lut_params;

/* CONCATENATION along one axis: for each of `outer` steps, inner[k] elements of input k in turn. An input whose
 * quantization differs from the output's goes through a requantization table: table[k] >= 0 selects
 * tables + 256 * table[k] (index = input + 128), table[k] = -1 copies. */
#define EK_CONCAT_MAX_INPUTS 16
typedef struct {
    int32_t inputs;
    int32_t outer;
    const int32_t *inner;
    const int32_t *table;
    const int8_t *tables;               /* may be NULL when no input is requantized */
} ek_concat_params;

/* STRIDED_SLICE (and SLICE): output element (i0, i1, i2, i3) of count[] is input[offset + sum ik * step[k]];
 * steps may be negative. input_size bounds every index (checked in prepare). */
typedef struct {
    int32_t count[4];
    int32_t step[4];
    int32_t offset;
    int32_t input_size;
} ek_slice_params;

/* GATHER (axis, batch_dims) and EMBEDDING_LOOKUP of int8 values with int32 indices: raw copies, as TFLite Micro
 * does (the output shares the values' quantization). For each of `batches` x `outer` steps, `coords` rows of
 * `inner` elements, row k = values[((b * outer + o) * axis_size + indices[b * coords + k]) * inner ...]. The
 * indices come as the second input (an int32 tensor of batches * coords values, any alignment); eval refuses an
 * index outside [0, axis_size) with EK_E_BAD_ARG (TFLite Micro's EMBEDDING_LOOKUP fails on it too). */
typedef struct {
    int32_t batches, outer, axis_size, coords, inner;
} ek_gather_params;

/* ---- reference kernels (kernels/reference/) ---- */
ek_status ek_conv2d_s8_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_conv2d_s8_scratch_bytes(const ek_conv_params *p);
ek_status ek_conv2d_s8_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_depthwise_conv2d_s8_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_depthwise_conv2d_s8_scratch_bytes(const ek_conv_params *p);
ek_status ek_depthwise_conv2d_s8_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_fully_connected_s8_prepare(const ek_fc_params *p, size_t scratch_bytes);
int32_t ek_fully_connected_s8_scratch_bytes(const ek_fc_params *p);
ek_status ek_fully_connected_s8_eval(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_max_pool2d_s8_prepare(const ek_pool_params *p, size_t scratch_bytes);
int32_t ek_max_pool2d_s8_scratch_bytes(const ek_pool_params *p);
ek_status ek_max_pool2d_s8_eval(const ek_pool_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_avg_pool2d_s8_prepare(const ek_pool_params *p, size_t scratch_bytes);
int32_t ek_avg_pool2d_s8_scratch_bytes(const ek_pool_params *p);
ek_status ek_avg_pool2d_s8_eval(const ek_pool_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_add_s8_prepare(const ek_add_params *p, size_t scratch_bytes);
int32_t ek_add_s8_scratch_bytes(const ek_add_params *p);
ek_status ek_add_s8_eval(const ek_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                         void *scratch);

ek_status ek_sub_s8_prepare(const ek_add_params *p, size_t scratch_bytes);
int32_t ek_sub_s8_scratch_bytes(const ek_add_params *p);
ek_status ek_sub_s8_eval(const ek_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                         void *scratch);

ek_status ek_mul_s8_prepare(const ek_mul_params *p, size_t scratch_bytes);
int32_t ek_mul_s8_scratch_bytes(const ek_mul_params *p);
ek_status ek_mul_s8_eval(const ek_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                         void *scratch);

ek_status ek_softmax_s8_prepare(const ek_softmax_params *p, size_t scratch_bytes);
int32_t ek_softmax_s8_scratch_bytes(const ek_softmax_params *p);
ek_status ek_softmax_s8_eval(const ek_softmax_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_mean_s8_prepare(const ek_mean_params *p, size_t scratch_bytes);
int32_t ek_mean_s8_scratch_bytes(const ek_mean_params *p);
ek_status ek_mean_s8_eval(const ek_mean_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_transpose_s8_prepare(const ek_transpose_params *p, size_t scratch_bytes);
int32_t ek_transpose_s8_scratch_bytes(const ek_transpose_params *p);
ek_status ek_transpose_s8_eval(const ek_transpose_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_pad_s8_prepare(const ek_pad_params *p, size_t scratch_bytes);
int32_t ek_pad_s8_scratch_bytes(const ek_pad_params *p);
ek_status ek_pad_s8_eval(const ek_pad_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_lut_s8_prepare(const ek_lut_params *p, size_t scratch_bytes);
int32_t ek_lut_s8_scratch_bytes(const ek_lut_params *p);
ek_status ek_lut_s8_eval(const ek_lut_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_concat_s8_prepare(const ek_concat_params *p, size_t scratch_bytes);
int32_t ek_concat_s8_scratch_bytes(const ek_concat_params *p);
ek_status ek_concat_s8_eval(const ek_concat_params *p, const int8_t *const *inputs, int8_t *output, void *scratch);

ek_status ek_slice_s8_prepare(const ek_slice_params *p, size_t scratch_bytes);
int32_t ek_slice_s8_scratch_bytes(const ek_slice_params *p);
ek_status ek_slice_s8_eval(const ek_slice_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_transpose_conv_s8_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_transpose_conv_s8_scratch_bytes(const ek_conv_params *p);
ek_status ek_transpose_conv_s8_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_gather_s8_prepare(const ek_gather_params *p, size_t scratch_bytes);
int32_t ek_gather_s8_scratch_bytes(const ek_gather_params *p);
ek_status ek_gather_s8_eval(const ek_gather_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                            void *scratch);

/* ---- DSP kernels (kernels/dsp/, cores with the DSP extension) ---- */
ek_status ek_conv2d_s8_dsp_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_conv2d_s8_dsp_scratch_bytes(const ek_conv_params *p);
ek_status ek_conv2d_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_depthwise_conv2d_s8_dsp_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_depthwise_conv2d_s8_dsp_scratch_bytes(const ek_conv_params *p);
ek_status ek_depthwise_conv2d_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                          void *scratch);

ek_status ek_fully_connected_s8_dsp_prepare(const ek_fc_params *p, size_t scratch_bytes);
int32_t ek_fully_connected_s8_dsp_scratch_bytes(const ek_fc_params *p);
ek_status ek_fully_connected_s8_dsp_eval(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_transpose_conv_s8_dsp_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_transpose_conv_s8_dsp_scratch_bytes(const ek_conv_params *p);
ek_status ek_transpose_conv_s8_dsp_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                        void *scratch);

/* The DSP kernels' weight order (documented in their .c files), which the host writes into flash
 * (edgekit/export/mcu/kernels.py mirrors these); produced on the device by the kernel test image from the
 * reference OHWI / 1HWC / [out][in] order. The depthwise one: with depth multiplier 1 and a depth that is a
 * multiple of 4, weights widened to int16 in the DSP order (2 * taps * depth bytes) and the bias with
 * input_offset * sum of weights folded in (dst_bias always written: depth values); otherwise plain copies
 * (dst_bias written only when bias is not NULL). */
void ek_conv2d_s8_dsp_pack(const ek_conv_params *p, const int8_t *src, int8_t *dst);
void ek_depthwise_conv2d_s8_dsp_pack(const ek_conv_params *p, const int8_t *src, const int32_t *bias, int8_t *dst,
                                     int32_t *dst_bias);
void ek_fully_connected_s8_dsp_pack(const ek_fc_params *p, const int8_t *src, int8_t *dst);

/* ---- MVE kernels (kernels/mve/, Armv8.1-M cores with Helium: Cortex-M55/M85) ----
 * CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, bit-exact with the reference kernels;
 * shapes they do not take (grouped conv, depth multiplier > 1) run the reference. Their bias is the packed one
 * (never NULL on the MVE path): bias + input_offset * the sum of each output channel's weights (ek_<op>_mve_pack:
 * dst_bias always written for the shapes they take; otherwise a copy when bias is not NULL). Depthwise reads the
 * reference 1HWC weights; conv and FC the packed order of kernels/mve/ek_mve.h (rows in groups of 4, depth
 * padded to 16: EK_MVE_ROWS_PAD(out) * EK_MVE_DEPTH_PAD(kh * kw * depth) bytes; grouped conv: a copy). */
ek_status ek_conv2d_s8_mve_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_conv2d_s8_mve_scratch_bytes(const ek_conv_params *p);
ek_status ek_conv2d_s8_mve_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch);

ek_status ek_depthwise_conv2d_s8_mve_prepare(const ek_conv_params *p, size_t scratch_bytes);
int32_t ek_depthwise_conv2d_s8_mve_scratch_bytes(const ek_conv_params *p);
ek_status ek_depthwise_conv2d_s8_mve_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                          void *scratch);

ek_status ek_fully_connected_s8_mve_prepare(const ek_fc_params *p, size_t scratch_bytes);
int32_t ek_fully_connected_s8_mve_scratch_bytes(const ek_fc_params *p);
ek_status ek_fully_connected_s8_mve_eval(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch);

void ek_conv2d_s8_mve_pack(const ek_conv_params *p, const int8_t *src, const int32_t *bias, int8_t *dst,
                           int32_t *dst_bias);
void ek_depthwise_conv2d_s8_mve_pack(const ek_conv_params *p, const int32_t *bias, int32_t *dst_bias);
void ek_fully_connected_s8_mve_pack(const ek_fc_params *p, const int8_t *src, const int32_t *bias, int8_t *dst,
                                    int32_t *dst_bias);

static inline int32_t ek_dims_count(const ek_dims *d) {
    return d->n * d->h * d->w * d->c;
}

/* Non-negative padding that gives exactly the output size (conv and depthwise prepare). */
static inline int ek_conv_padding_valid(const ek_conv_params *p) {
    const int32_t eff_h = (p->filter.h - 1) * p->dilation_h + 1, eff_w = (p->filter.w - 1) * p->dilation_w + 1;
    const int32_t span_h = p->input.h + p->pad_top + p->pad_bottom - eff_h;
    const int32_t span_w = p->input.w + p->pad_left + p->pad_right - eff_w;
    return p->pad_top >= 0 && p->pad_bottom >= 0 && p->pad_left >= 0 && p->pad_right >= 0 && span_h >= 0 &&
           span_w >= 0 && p->output.h == span_h / p->stride_h + 1 && p->output.w == span_w / p->stride_w + 1;
}

/* The geometry rules both pooling kernels share (max and average prepare). */
static inline int ek_pool_geometry_valid(const ek_pool_params *p) {
    return p->input.n == p->output.n && p->input.c == p->output.c && p->filter_h > 0 && p->filter_w > 0 &&
           p->stride_h > 0 && p->stride_w > 0 && p->pad_h >= 0 && p->pad_w >= 0 && p->act_min <= p->act_max &&
           p->output.h > 0 && p->output.w > 0;
}

#endif
