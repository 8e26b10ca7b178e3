/* MVE kernel test image (QEMU mps3-an547, Cortex-M55): (1) bit-exactness of the MVE kernels (conv, depthwise,
 * fully connected; kernels/mve/) against the reference kernels on random shapes (strides 1 and 2, dilation,
 * asymmetric padding, odd widths, depths and channel counts that are not multiples of 4 or 16, batches, random
 * offsets, activation ranges and per-channel requantization with shifts from -31 to 2), with a dirty scratch
 * and a guard byte after every output; (2) SysTick timings of the reference, DSP and MVE kernels on fixed
 * shapes. Prints one JSON object on the UART, then stops QEMU (semihosting) with the number of mismatching
 * cases as exit status. Built as an MVE build (kernels/reference, dsp and mve); run by
 * tests/export/mcu/test_mve_kernels.py. */
#include <stdint.h>
#include <string.h>

#include "ek_kernels.h"
#include "ek_port.h"

#ifndef EK_TEST_CASES
#define EK_TEST_CASES 300
#endif

#define EK_TEST_SEED 0x2468ace1u
#include "ek_test_util.h"

#define MAX_IO 65536
static int8_t in_buf[MAX_IO], out_ref[MAX_IO + 16], out_mve[MAX_IO + 16];
static int8_t weights[262144], packed[262144] __attribute__((aligned(8)));
static int32_t bias[512], mult[512], shift[512], packed_bias[512];
static uint32_t scratch[4096];

static void random_quant(int32_t channels) {
    const int big = uniform(0, 5) == 0;  /* large biases: accumulators near the int32 range */
    for (int32_t c = 0; c < channels; ++c) {
        bias[c] = big ? (int32_t)next() : uniform(-40000, 40000);
        mult[c] = uniform(0, 30) == 0 ? 0 : (int32_t)((1u << 30) + (next() & 0x3FFFFFFFu));
        const int32_t r = uniform(0, 19);
        shift[c] = r == 0 ? uniform(0, 2) : r == 1 ? uniform(-31, -13) : r == 2 ? uniform(-4, -1) : uniform(-12, -5);
    }
}

static void random_act(int32_t *lo, int32_t *hi) {
    *lo = uniform(0, 3) == 0 ? uniform(-128, 0) : -128;
    *hi = uniform(0, 3) == 0 ? uniform(*lo, 127) : 127;
}

static int compare(int32_t n) {
    return memcmp(out_ref, out_mve, (size_t)n + 16) != 0;
}

static void prepare_outputs(int32_t n) {
    memset(out_ref, 0x5a, (size_t)n + 16);
    memset(out_mve, 0x5a, (size_t)n + 16);
    memset(scratch, 0xa5, sizeof scratch);
}

static int random_channels(void) {
    const int32_t r = uniform(0, 5);
    return r == 0 ? uniform(1, 7) : r == 1 ? uniform(17, 70) : r == 2 ? 16 * uniform(1, 4) : 4 * uniform(1, 6);
}

static int conv_geometry(ek_conv_params *p, int32_t kh, int32_t kw, int32_t in_c, int32_t filter_c, int32_t out_c,
                         int32_t max_hw) {
    p->input = (ek_dims){uniform(1, 2), uniform(1, max_hw), uniform(1, max_hw), in_c};
    p->filter = (ek_dims){filter_c == 0 ? 1 : out_c, kh, kw, filter_c == 0 ? out_c : filter_c};
    const int32_t eff_h = (kh - 1) * p->dilation_h + 1, eff_w = (kw - 1) * p->dilation_w + 1;
    const int32_t span_h = p->input.h + p->pad_top + p->pad_bottom - eff_h;
    const int32_t span_w = p->input.w + p->pad_left + p->pad_right - eff_w;
    if (span_h < 0 || span_w < 0) {
        return 0;
    }
    p->output = (ek_dims){p->input.n, span_h / p->stride_h + 1, span_w / p->stride_w + 1, out_c};
    return ek_dims_count(&p->output) <= MAX_IO && ek_dims_count(&p->input) <= MAX_IO;
}

static void common_params(ek_conv_params *p, int32_t out_c) {
    p->input_offset = uniform(-127, 128);
    p->output_offset = uniform(-128, 127);
    random_act(&p->act_min, &p->act_max);
    random_quant(out_c);
    p->weights = weights;
    p->bias = uniform(0, 4) ? bias : NULL;
    p->multiplier = mult;
    p->shift = shift;
}

static int conv_case(int pointwise) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    const int32_t kh = pointwise ? 1 : uniform(1, 5), kw = pointwise ? 1 : uniform(1, 5);
    p.stride_h = uniform(1, 2);
    p.stride_w = uniform(1, 2);
    p.dilation_h = !pointwise && uniform(0, 4) == 0 ? 2 : 1;
    p.dilation_w = p.dilation_h;
    if (!pointwise || uniform(0, 4) == 0) {
        p.pad_top = uniform(0, kh);
        p.pad_left = uniform(0, kw);
        p.pad_bottom = uniform(0, 3) == 0 ? uniform(0, kh) : p.pad_top;
        p.pad_right = uniform(0, 3) == 0 ? uniform(0, kw) : p.pad_left;
    }
    const int32_t in_c = random_channels(), out_c = uniform(0, 3) == 0 ? uniform(1, 9) : uniform(1, 70);
    const int grouped = uniform(0, 9) == 0 && in_c % 2 == 0 && out_c % 2 == 0;  /* the reference fallback */
    if (!conv_geometry(&p, kh, kw, in_c, grouped ? in_c / 2 : in_c, out_c, pointwise ? 12 : 9)) {
        return 0;
    }
    common_params(&p, out_c);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    if (ek_conv2d_s8_prepare(&p, 0) != EK_OK || (size_t)ek_conv2d_s8_mve_scratch_bytes(&p) > sizeof scratch) {
        return 1;
    }
    const int32_t n = ek_dims_count(&p.output);
    prepare_outputs(n);
    ek_conv2d_s8_eval(&p, in_buf, out_ref, NULL);
    ek_conv2d_s8_mve_pack(&p, weights, p.bias, packed, packed_bias);
    p.weights = packed;
    if (grouped ? p.bias != NULL : 1) {
        p.bias = packed_bias;
    }
    if (ek_conv2d_s8_mve_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_conv2d_s8_mve_eval(&p, in_buf, out_mve, scratch);
    return compare(n);
}

static int dw_case(void) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    const int32_t kh = uniform(1, 5), kw = uniform(1, 5);
    p.stride_h = uniform(1, 2);
    p.stride_w = uniform(1, 2);
    p.dilation_h = uniform(0, 4) == 0 ? 2 : 1;
    p.dilation_w = uniform(0, 4) == 0 ? 2 : 1;
    p.pad_top = uniform(0, kh);
    p.pad_left = uniform(0, kw);
    p.pad_bottom = uniform(0, kh);
    p.pad_right = uniform(0, kw);
    const int32_t in_c = random_channels();
    p.depth_multiplier = uniform(0, 7) == 0 ? uniform(2, 3) : 1;
    const int32_t out_c = in_c * p.depth_multiplier;
    if (!conv_geometry(&p, kh, kw, in_c, 0, out_c, 11)) {
        return 0;
    }
    common_params(&p, out_c);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    if (ek_depthwise_conv2d_s8_prepare(&p, 0) != EK_OK) {
        return 1;
    }
    const int32_t n = ek_dims_count(&p.output);
    prepare_outputs(n);
    ek_depthwise_conv2d_s8_eval(&p, in_buf, out_ref, NULL);
    ek_depthwise_conv2d_s8_mve_pack(&p, p.bias, packed_bias);
    if (p.depth_multiplier == 1 || p.bias != NULL) {
        p.bias = packed_bias;
    }
    if (ek_depthwise_conv2d_s8_mve_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_depthwise_conv2d_s8_mve_eval(&p, in_buf, out_mve, scratch);
    return compare(n);
}

static int fc_case(void) {
    ek_fc_params p;
    memset(&p, 0, sizeof p);
    p.batches = uniform(1, 3);
    p.in_features = uniform(0, 2) == 0 ? uniform(1, 40) : uniform(1, 700);
    p.out_features = uniform(0, 2) == 0 ? uniform(1, 9) : uniform(1, 200);
    p.input_offset = uniform(-127, 128);
    p.output_offset = uniform(-128, 127);
    random_act(&p.act_min, &p.act_max);
    random_quant(p.out_features);
    fill(in_buf, p.batches * p.in_features);
    fill(weights, p.in_features * p.out_features);
    p.weights = weights;
    p.bias = uniform(0, 4) ? bias : NULL;
    p.multiplier = mult;
    p.shift = shift;
    const int32_t n = p.batches * p.out_features;
    prepare_outputs(n);
    ek_fully_connected_s8_eval(&p, in_buf, out_ref, NULL);
    ek_fully_connected_s8_mve_pack(&p, weights, p.bias, packed, packed_bias);
    p.weights = packed;
    p.bias = packed_bias;
    if (ek_fully_connected_s8_mve_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_fully_connected_s8_mve_eval(&p, in_buf, out_mve, scratch);
    return compare(n);
}

/* ---- timings: reference, DSP (packed weights) and MVE on fixed shapes ---- */
static void bench_line(const char *name, const char *variant, int64_t macs, uint64_t ticks, int first) {
    put(first ? "{\"name\":\"" : ",{\"name\":\"");
    put(name);
    put("\",\"variant\":\"");
    put(variant);
    put("\",\"macs\":");
    put_int(macs);
    put(",\"ticks\":");
    put_int((int64_t)ticks);
    put("}");
}

static void conv_bench(const char *name, int32_t hw, int32_t in_c, int32_t out_c, int32_t k, int32_t stride,
                       int depthwise, int first) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    p.stride_h = p.stride_w = stride;
    p.dilation_h = p.dilation_w = 1;
    p.pad_top = p.pad_left = k / 2;
    p.input = (ek_dims){1, hw, hw, in_c};
    const int32_t span = hw + 2 * (k / 2) - k, oh = span / stride + 1;
    p.pad_bottom = p.pad_right = (oh - 1) * stride + k - hw - p.pad_top;
    if (p.pad_bottom < 0) {
        p.pad_bottom = p.pad_right = 0;
    }
    p.filter = depthwise ? (ek_dims){1, k, k, in_c} : (ek_dims){out_c, k, k, in_c};
    p.output = (ek_dims){1, oh, oh, depthwise ? in_c : out_c};
    p.depth_multiplier = 1;
    p.input_offset = 128;
    p.output_offset = -5;
    p.act_min = -128;
    p.act_max = 127;
    random_quant(p.output.c);
    for (int32_t c = 0; c < p.output.c; ++c) {
        bias[c] = uniform(-4000, 4000);
        shift[c] = -8;
    }
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = bias;
    p.multiplier = mult;
    p.shift = shift;
    const int64_t macs = (int64_t)oh * oh * p.output.c * k * k * (depthwise ? 1 : in_c);
    for (int v = 0; v < 3; ++v) {
        ek_conv_params q = p;
        if (v == 1) {
            if (depthwise) {
                ek_depthwise_conv2d_s8_dsp_pack(&p, weights, bias, packed, packed_bias);
                q.bias = packed_bias;
            } else {
                ek_conv2d_s8_dsp_pack(&p, weights, packed);
            }
            q.weights = packed;
        } else if (v == 2) {
            if (depthwise) {
                ek_depthwise_conv2d_s8_mve_pack(&p, bias, packed_bias);
            } else {
                ek_conv2d_s8_mve_pack(&p, weights, bias, packed, packed_bias);
                q.weights = packed;
            }
            q.bias = packed_bias;
        }
        ek_status (*fn)(const ek_conv_params *, const int8_t *, int8_t *, void *) =
            depthwise ? (v == 0 ? ek_depthwise_conv2d_s8_eval : v == 1 ? ek_depthwise_conv2d_s8_dsp_eval
                                                                      : ek_depthwise_conv2d_s8_mve_eval)
                      : (v == 0 ? ek_conv2d_s8_eval : v == 1 ? ek_conv2d_s8_dsp_eval : ek_conv2d_s8_mve_eval);
        const int32_t need = depthwise ? (v == 1 ? ek_depthwise_conv2d_s8_dsp_scratch_bytes(&q)
                                                 : ek_depthwise_conv2d_s8_mve_scratch_bytes(&q))
                                       : (v == 1 ? ek_conv2d_s8_dsp_scratch_bytes(&q)
                                                 : ek_conv2d_s8_mve_scratch_bytes(&q));
        if ((size_t)need > sizeof scratch) {
            continue;
        }
        const uint64_t t0 = ek_port_ticks();
        fn(&q, in_buf, v == 2 ? out_mve : out_ref, scratch);
        const uint64_t t1 = ek_port_ticks();
        bench_line(name, v == 0 ? "reference" : v == 1 ? "dsp" : "mve", macs, t1 - t0, first && v == 0);
    }
}

static void fc_bench(const char *name, int32_t in_f, int32_t out_f) {
    ek_fc_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1;
    p.in_features = in_f;
    p.out_features = out_f;
    p.input_offset = 128;
    p.act_min = -128;
    p.act_max = 127;
    random_quant(out_f);
    fill(in_buf, in_f);
    fill(weights, in_f * out_f);
    p.weights = weights;
    p.bias = bias;
    p.multiplier = mult;
    p.shift = shift;
    for (int v = 0; v < 3; ++v) {
        ek_fc_params q = p;
        if (v == 1) {
            ek_fully_connected_s8_dsp_pack(&p, weights, packed);
            q.weights = packed;
        } else if (v == 2) {
            ek_fully_connected_s8_mve_pack(&p, weights, bias, packed, packed_bias);
            q.weights = packed;
            q.bias = packed_bias;
        }
        const uint64_t t0 = ek_port_ticks();
        if (v == 0) {
            ek_fully_connected_s8_eval(&q, in_buf, out_ref, scratch);
        } else if (v == 1) {
            ek_fully_connected_s8_dsp_eval(&q, in_buf, out_ref, scratch);
        } else {
            ek_fully_connected_s8_mve_eval(&q, in_buf, out_mve, scratch);
        }
        const uint64_t t1 = ek_port_ticks();
        bench_line(name, v == 0 ? "reference" : v == 1 ? "dsp" : "mve", (int64_t)in_f * out_f, t1 - t0, 0);
    }
}

int main(void) {
    ek_port_init();
    int32_t conv_bad = 0, pw_bad = 0, fc_bad = 0, dw_bad = 0;
    for (int i = 0; i < EK_TEST_CASES; ++i) {
        conv_bad += conv_case(0);
        pw_bad += conv_case(1);
        fc_bad += fc_case();
        dw_bad += dw_case();
    }
    put("{\"cases\":");
    put_int(EK_TEST_CASES);
    put(",\"conv_mismatches\":");
    put_int(conv_bad);
    put(",\"pointwise_mismatches\":");
    put_int(pw_bad);
    put(",\"fc_mismatches\":");
    put_int(fc_bad);
    put(",\"depthwise_mismatches\":");
    put_int(dw_bad);
    put(",\"systick_hz\":");
    put_int(EK_SYSTICK_HZ);
    put(",\"bench\":[");
    conv_bench("conv2d 1x1 64->64 25x5", 10, 64, 64, 1, 1, 0, 1);
    conv_bench("conv2d 3x3 16->32 16x16", 16, 16, 32, 3, 1, 0, 0);
    conv_bench("depthwise 3x3 64ch 10x10", 10, 64, 64, 3, 1, 1, 0);
    conv_bench("depthwise 3x3 32ch 16x16 /2", 16, 32, 32, 3, 2, 1, 0);
    fc_bench("fully_connected 1024->256", 1024, 256);
    put("]}\n");
    ek_port_fault((uint32_t)(conv_bad + pw_bad + fc_bad + dw_bad));
    return 0;
}
