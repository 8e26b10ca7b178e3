/* The peer for bench/bench_m55_cmsis_nn.py: edgekit's reference kernel entry points for CONV_2D,
 * DEPTHWISE_CONV_2D and FULLY_CONNECTED implemented by calling ARM's CMSIS-NN (arm_convolve_wrapper_s8,
 * arm_depthwise_conv_wrapper_s8, arm_fully_connected_s8 / arm_fully_connected_per_channel_s8), built with the
 * same compiler and flags (-mcpu=cortex-m55: CMSIS-NN's Helium paths, ARM_MATH_MVEI). It replaces
 * kernels/reference/ek_{conv2d,depthwise_conv2d,fully_connected}_s8.c in an image whose model.c was planned for
 * the reference kernels (TFLite's weight layouts: OHWI, 1HWC, [out][in], which CMSIS-NN reads as they are), so
 * the generated model's kernel calls go to CMSIS-NN; every other op runs edgekit's reference kernels, in this
 * image as in ours.
 *
 * What TFLite Micro does at Prepare is done at a call's first eval and kept (a warm-up inference pays it):
 * fully connected's kernel sums (arm_vector_sum_s8: bias + input_offset * sum of each row's weights, which
 * CMSIS-NN's Helium FC needs). CMSIS-NN's scratch (ctx.buf) is one static buffer here, not the planned arena.
 * Not part of edgekit's firmware: bench code only. */
#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "ek_kernels.h"

#define PEER_BUF_BYTES (128 * 1024)
#define PEER_SUMS 32768          /* int32 kernel sums of every FC call of the model */
#define PEER_FC_CALLS 128

static int8_t peer_buf[PEER_BUF_BYTES] __attribute__((aligned(16)));
static int32_t peer_sums[PEER_SUMS];
static int32_t peer_sums_used;
static struct {
    const int8_t *weights;
    int32_t *sums;
} peer_fc[PEER_FC_CALLS];

static cmsis_nn_activation act(int32_t lo, int32_t hi) {
    cmsis_nn_activation a = {lo, hi};
    return a;
}

static cmsis_nn_dims dims(ek_dims d) {
    cmsis_nn_dims r = {d.n, d.h, d.w, d.c};
    return r;
}

static cmsis_nn_conv_params conv_params(const ek_conv_params *p) {
    cmsis_nn_conv_params c;
    c.input_offset = p->input_offset;
    c.output_offset = p->output_offset;
    c.stride.w = p->stride_w;
    c.stride.h = p->stride_h;
    c.padding.w = p->pad_left;
    c.padding.h = p->pad_top;
    c.dilation.w = p->dilation_w;
    c.dilation.h = p->dilation_h;
    c.activation = act(p->act_min, p->act_max);
    return c;
}

static cmsis_nn_dw_conv_params dw_params(const ek_conv_params *p) {
    cmsis_nn_dw_conv_params c;
    c.input_offset = p->input_offset;
    c.output_offset = p->output_offset;
    c.ch_mult = p->depth_multiplier;
    c.stride.w = p->stride_w;
    c.stride.h = p->stride_h;
    c.padding.w = p->pad_left;
    c.padding.h = p->pad_top;
    c.dilation.w = p->dilation_w;
    c.dilation.h = p->dilation_h;
    c.activation = act(p->act_min, p->act_max);
    return c;
}

/* ---- CONV_2D ---- */
int32_t ek_conv2d_s8_scratch_bytes(const ek_conv_params *p) {
    (void)p;
    return 0;
}

ek_status ek_conv2d_s8_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    (void)scratch_bytes;
    const cmsis_nn_conv_params c = conv_params(p);
    const cmsis_nn_dims in = dims(p->input), f = dims(p->filter), out = dims(p->output);
    if (arm_convolve_wrapper_s8_get_buffer_size(&c, &in, &f, &out) > PEER_BUF_BYTES) {
        return EK_E_UNSUPPORTED;
    }
    return EK_OK;
}

ek_status ek_conv2d_s8_eval(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    const cmsis_nn_conv_params c = conv_params(p);
    const cmsis_nn_per_channel_quant_params q = {(int32_t *)p->multiplier, (int32_t *)p->shift};
    const cmsis_nn_dims in = dims(p->input), f = dims(p->filter), out = dims(p->output);
    const cmsis_nn_dims b = {1, 1, 1, p->output.c};
    const cmsis_nn_context ctx = {peer_buf, arm_convolve_wrapper_s8_get_buffer_size(&c, &in, &f, &out)};
    return arm_convolve_wrapper_s8(&ctx, &c, &q, &in, input, &f, p->weights, &b, p->bias, &out, output) ==
                   ARM_CMSIS_NN_SUCCESS
               ? EK_OK
               : EK_E_UNSUPPORTED;
}

/* ---- DEPTHWISE_CONV_2D ---- */
int32_t ek_depthwise_conv2d_s8_scratch_bytes(const ek_conv_params *p) {
    (void)p;
    return 0;
}

ek_status ek_depthwise_conv2d_s8_prepare(const ek_conv_params *p, size_t scratch_bytes) {
    (void)scratch_bytes;
    const cmsis_nn_dw_conv_params c = dw_params(p);
    const cmsis_nn_dims in = dims(p->input), f = dims(p->filter), out = dims(p->output);
    if (arm_depthwise_conv_wrapper_s8_get_buffer_size(&c, &in, &f, &out) > PEER_BUF_BYTES) {
        return EK_E_UNSUPPORTED;
    }
    return EK_OK;
}

ek_status ek_depthwise_conv2d_s8_eval(const ek_conv_params *p, const int8_t *input, int8_t *output,
                                      void *scratch) {
    (void)scratch;
    const cmsis_nn_dw_conv_params c = dw_params(p);
    const cmsis_nn_per_channel_quant_params q = {(int32_t *)p->multiplier, (int32_t *)p->shift};
    const cmsis_nn_dims in = dims(p->input), f = dims(p->filter), out = dims(p->output);
    const cmsis_nn_dims b = {1, 1, 1, p->output.c};
    const cmsis_nn_context ctx = {peer_buf, arm_depthwise_conv_wrapper_s8_get_buffer_size(&c, &in, &f, &out)};
    return arm_depthwise_conv_wrapper_s8(&ctx, &c, &q, &in, input, &f, p->weights, &b, p->bias, &out, output) ==
                   ARM_CMSIS_NN_SUCCESS
               ? EK_OK
               : EK_E_UNSUPPORTED;
}

/* ---- FULLY_CONNECTED ---- */
int32_t ek_fully_connected_s8_scratch_bytes(const ek_fc_params *p) {
    (void)p;
    return 0;
}

ek_status ek_fully_connected_s8_prepare(const ek_fc_params *p, size_t scratch_bytes) {
    (void)scratch_bytes;
    return p->out_features <= PEER_SUMS ? EK_OK : EK_E_UNSUPPORTED;
}

/* the kernel sums of this call's weights, computed once (TFLite Micro's Prepare) */
static int32_t *kernel_sums(const ek_fc_params *p) {
    for (int i = 0; i < PEER_FC_CALLS && peer_fc[i].weights != NULL; ++i) {
        if (peer_fc[i].weights == p->weights) {
            return peer_fc[i].sums;
        }
    }
    int slot = 0;
    while (slot < PEER_FC_CALLS && peer_fc[slot].weights != NULL) {
        ++slot;
    }
    if (slot == PEER_FC_CALLS || peer_sums_used + p->out_features > PEER_SUMS) {
        return NULL;
    }
    int32_t *sums = peer_sums + peer_sums_used;
    peer_sums_used += p->out_features;
    arm_vector_sum_s8(sums, p->in_features, p->out_features, p->weights, p->input_offset, 0, p->bias);
    peer_fc[slot].weights = p->weights;
    peer_fc[slot].sums = sums;
    return sums;
}

ek_status ek_fully_connected_s8_eval(const ek_fc_params *p, const int8_t *input, int8_t *output, void *scratch) {
    (void)scratch;
    int32_t *sums = kernel_sums(p);
    if (sums == NULL) {
        return EK_E_UNSUPPORTED;
    }
    const cmsis_nn_context ctx = {sums, p->out_features * (int32_t)sizeof(int32_t)};
    cmsis_nn_fc_params c;
    c.input_offset = p->input_offset;
    c.filter_offset = 0;
    c.output_offset = p->output_offset;
    c.activation = act(p->act_min, p->act_max);
    const cmsis_nn_dims in = {p->batches, 1, 1, p->in_features};
    const cmsis_nn_dims f = {p->in_features, 1, 1, p->out_features};
    const cmsis_nn_dims b = {1, 1, 1, p->out_features};
    const cmsis_nn_dims out = {p->batches, 1, 1, p->out_features};
    int per_tensor = 1;
    for (int32_t o = 1; o < p->out_features; ++o) {
        per_tensor &= p->multiplier[o] == p->multiplier[0] && p->shift[o] == p->shift[0];
    }
    arm_cmsis_nn_status st;
    if (per_tensor) {
        const cmsis_nn_per_tensor_quant_params q = {p->multiplier[0], p->shift[0]};
        st = arm_fully_connected_s8(&ctx, &c, &q, &in, input, &f, p->weights, &b, p->bias, &out, output);
    } else {
        const cmsis_nn_per_channel_quant_params q = {(int32_t *)p->multiplier, (int32_t *)p->shift};
        st = arm_fully_connected_per_channel_s8(&ctx, &c, &q, &in, input, &f, p->weights, &b, p->bias, &out,
                                                output);
    }
    return st == ARM_CMSIS_NN_SUCCESS ? EK_OK : EK_E_UNSUPPORTED;
}
