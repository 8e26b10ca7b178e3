/* Kernel test image (QEMU): (1) bit-exactness of the DSP kernels (conv, depthwise, fully connected, transpose
 * conv) against the reference kernels on random
 * shapes, offsets and requantization parameters, tails included; (2) SysTick timings of both variants on fixed
 * benchmark shapes. Prints one JSON object on the UART, then stops QEMU (semihosting) with the number of
 * mismatching cases as exit status. Run by bench/kernel_tool.py (tests/bench/test_kernel_tool.py,
 * bench/bench_mcu.py).
 *
 * conv_fast_case / dw_fast_case draw the shapes of the fast paths (trained layers' requantization).
 * Both variants in one image: it is built as a DSP build (kernels/reference/ and kernels/dsp/), and the two
 * variants have distinct names (ek_<op>_eval and ek_<op>_dsp_eval, see ek_kernels.h), so it calls each directly.
 * Both prepares must accept every random case (the DSP one with the packed weights it will read). */
#include <stdint.h>
#include <string.h>

#include "ek_kernels.h"
#include "ek_port.h"

#ifndef EK_TEST_CASES
#define EK_TEST_CASES 300
#endif

#define EK_TEST_SEED 0x12345678u
#include "ek_test_util.h"

#define MAX_IO 65536 /* above the generators' worst case (~38 KB out): a case must never write past a buffer */
static int8_t in_buf[MAX_IO], out_ref[MAX_IO], out_dsp[MAX_IO];
static int8_t weights[262144], packed[262144] __attribute__((aligned(8)));
static int32_t bias[512], mult[512], shift[512], packed_bias[512];
static uint32_t scratch[2048];

static void random_quant(int32_t channels) {
    for (int32_t c = 0; c < channels; ++c) {
        bias[c] = uniform(-40000, 40000);
        mult[c] = (int32_t)((1u << 30) + (next() & 0x3FFFFFFFu));
        shift[c] = uniform(0, 15) == 0 ? uniform(0, 2) : uniform(-12, -5);
    }
}

/* requantization as trained layers have it (shift < 0 on every channel): the benchmarks time the fast paths */
static void layer_quant(int32_t channels) {
    for (int32_t c = 0; c < channels; ++c) {
        bias[c] = uniform(-40000, 40000);
        mult[c] = (int32_t)((1u << 30) + (next() & 0x3FFFFFFFu));
        shift[c] = uniform(-12, -5);
    }
}

static void random_act(int32_t *lo, int32_t *hi) {
    *lo = uniform(0, 3) == 0 ? uniform(-128, 0) : -128;
    *hi = uniform(0, 3) == 0 ? uniform(*lo, 127) : 127;
}

static int conv_case(void) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    const int32_t kh = uniform(1, 3), kw = uniform(1, 3);
    p.stride_h = uniform(1, 2);
    p.stride_w = uniform(1, 2);
    p.dilation_h = uniform(0, 4) == 0 ? 2 : 1;
    p.dilation_w = p.dilation_h;
    p.pad_top = uniform(0, kh - 1);
    p.pad_left = uniform(0, kw - 1);
    p.pad_bottom = uniform(0, 3) == 0 ? uniform(0, kh) : p.pad_top;  /* asymmetric, as SAME or a folded PAD */
    p.pad_right = uniform(0, 3) == 0 ? uniform(0, kw) : p.pad_left;
    const int32_t in_c = uniform(0, 5) == 0 ? uniform(1, 7) : 4 * uniform(1, 6);
    p.input = (ek_dims){uniform(1, 2), uniform(3, 9), uniform(3, 9), in_c};
    p.filter = (ek_dims){uniform(1, 9), kh, kw, in_c};
    const int32_t eff_h = (kh - 1) * p.dilation_h + 1, eff_w = (kw - 1) * p.dilation_w + 1;
    const int32_t span_h = p.input.h + p.pad_top + p.pad_bottom - eff_h;
    const int32_t span_w = p.input.w + p.pad_left + p.pad_right - eff_w;
    if (span_h < 0 || span_w < 0) {
        return 0;
    }
    const int32_t oh = span_h / p.stride_h + 1, ow = span_w / p.stride_w + 1;
    if (oh <= 0 || ow <= 0) {
        return 0;
    }
    p.output = (ek_dims){p.input.n, oh, ow, p.filter.n};
    p.input_offset = uniform(-127, 128);
    p.output_offset = uniform(-128, 127);
    random_act(&p.act_min, &p.act_max);
    random_quant(p.filter.n);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = uniform(0, 4) ? bias : NULL;
    p.multiplier = mult;
    p.shift = shift;
    if (ek_conv2d_s8_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    const int32_t n = ek_dims_count(&p.output);
    memset(out_ref, 0, n);
    memset(out_dsp, 0x55, n);
    ek_conv2d_s8_eval(&p, in_buf, out_ref, scratch);
    ek_conv2d_s8_dsp_pack(&p, weights, packed);
    p.weights = packed;
    if (ek_conv2d_s8_dsp_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_conv2d_s8_dsp_eval(&p, in_buf, out_dsp, scratch);
    return memcmp(out_ref, out_dsp, n) != 0;
}

static int dw_case(void) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    const int32_t kh = uniform(1, 4), kw = uniform(1, 4);
    p.stride_h = uniform(1, 2);
    p.stride_w = uniform(1, 2);
    p.dilation_h = uniform(0, 4) == 0 ? 2 : 1;
    p.dilation_w = uniform(0, 4) == 0 ? 2 : 1;
    p.pad_top = uniform(0, kh);
    p.pad_left = uniform(0, kw);
    p.pad_bottom = uniform(0, kh);
    p.pad_right = uniform(0, kw);
    const int32_t in_c = uniform(0, 5) == 0 ? uniform(1, 7) : 4 * uniform(1, 8);
    p.depth_multiplier = uniform(0, 5) == 0 ? uniform(1, 3) : 1;
    const int32_t out_c = in_c * p.depth_multiplier;
    p.input = (ek_dims){uniform(1, 2), uniform(1, 9), uniform(1, 9), in_c};
    p.filter = (ek_dims){1, kh, kw, out_c};
    const int32_t eff_h = (kh - 1) * p.dilation_h + 1, eff_w = (kw - 1) * p.dilation_w + 1;
    const int32_t span_h = p.input.h + p.pad_top + p.pad_bottom - eff_h;
    const int32_t span_w = p.input.w + p.pad_left + p.pad_right - eff_w;
    if (span_h < 0 || span_w < 0) {
        return 0;
    }
    p.output = (ek_dims){p.input.n, span_h / p.stride_h + 1, span_w / p.stride_w + 1, out_c};
    p.input_offset = uniform(-127, 128);
    p.output_offset = uniform(-128, 127);
    random_act(&p.act_min, &p.act_max);
    random_quant(out_c);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = uniform(0, 4) ? bias : NULL;
    p.multiplier = mult;
    p.shift = shift;
    if (ek_depthwise_conv2d_s8_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    const int32_t n = ek_dims_count(&p.output);
    memset(out_ref, 0, n);
    memset(out_dsp, 0x55, n);
    ek_depthwise_conv2d_s8_eval(&p, in_buf, out_ref, scratch);
    ek_depthwise_conv2d_s8_dsp_pack(&p, weights, p.bias, packed, packed_bias);
    p.weights = packed;
    if (p.bias != NULL || (p.depth_multiplier == 1 && in_c % 4 == 0)) {
        p.bias = packed_bias;
    }
    if (ek_depthwise_conv2d_s8_dsp_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_depthwise_conv2d_s8_dsp_eval(&p, in_buf, out_dsp, scratch);
    return memcmp(out_ref, out_dsp, n) != 0;
}

/* The fast paths' shapes, which the random cases above rarely reach (every channel's shift < 0 and the whole int8
 * range, as trained layers have): a 3x3 filter over RGB (rgb_eval: even and odd output widths, strides 1 and 2,
 * padding on any side), a 1x1 convolution with stride 1 (pointwise_pairs: odd pixel counts, depth a multiple of
 * 4, odd channel counts) and a 3x3 depthwise convolution on planes large enough to take several bands (the fused
 * row loop: odd widths, strides 1 and 2, padding rows refilled or not). */
static int conv_fast_case(void) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    const int rgb = uniform(0, 1);
    const int32_t k = rgb ? 3 : 1, in_c = rgb ? 3 : 4 * uniform(1, 8);
    p.stride_h = rgb ? uniform(1, 2) : 1;
    p.stride_w = rgb ? uniform(1, 2) : 1;
    p.dilation_h = p.dilation_w = 1;
    p.pad_top = rgb ? uniform(0, 1) : 0;
    p.pad_left = rgb ? uniform(0, 1) : 0;
    p.pad_bottom = rgb ? uniform(0, 1) : 0;
    p.pad_right = rgb ? uniform(0, 1) : 0;
    p.input = (ek_dims){uniform(1, 2), uniform(3, 14), uniform(3, 14), in_c};
    p.filter = (ek_dims){uniform(1, 9), k, k, in_c};
    const int32_t oh = (p.input.h + p.pad_top + p.pad_bottom - k) / p.stride_h + 1;
    const int32_t ow = (p.input.w + p.pad_left + p.pad_right - k) / p.stride_w + 1;
    p.output = (ek_dims){p.input.n, oh, ow, p.filter.n};
    p.input_offset = uniform(-127, 128);
    p.output_offset = uniform(-128, 127);
    p.act_min = -128;
    p.act_max = 127;
    layer_quant(p.filter.n);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = uniform(0, 4) ? bias : NULL;
    p.multiplier = mult;
    p.shift = shift;
    if (ek_conv2d_s8_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    const int32_t n = ek_dims_count(&p.output);
    memset(out_ref, 0, n);
    memset(out_dsp, 0x55, n);
    ek_conv2d_s8_eval(&p, in_buf, out_ref, scratch);
    ek_conv2d_s8_dsp_pack(&p, weights, packed);
    p.weights = packed;
    if (ek_conv2d_s8_dsp_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_conv2d_s8_dsp_eval(&p, in_buf, out_dsp, scratch);
    return memcmp(out_ref, out_dsp, n) != 0;
}

static int dw_fast_case(void) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    p.stride_h = uniform(1, 2);
    p.stride_w = uniform(1, 2);
    p.dilation_h = p.dilation_w = p.depth_multiplier = 1;
    p.pad_top = uniform(0, 1);
    p.pad_left = uniform(0, 1);
    p.pad_bottom = uniform(0, 1);
    p.pad_right = uniform(0, 1);
    const int32_t c = 4 * uniform(1, 3);
    p.input = (ek_dims){uniform(1, 2), uniform(3, 30), uniform(3, 30), c};
    p.filter = (ek_dims){1, 3, 3, c};
    p.output = (ek_dims){p.input.n, (p.input.h + p.pad_top + p.pad_bottom - 3) / p.stride_h + 1,
                         (p.input.w + p.pad_left + p.pad_right - 3) / p.stride_w + 1, c};
    p.input_offset = uniform(-127, 128);
    p.output_offset = uniform(-128, 127);
    p.act_min = -128;
    p.act_max = 127;
    layer_quant(c);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = uniform(0, 4) ? bias : NULL;
    p.multiplier = mult;
    p.shift = shift;
    if (ek_depthwise_conv2d_s8_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    const int32_t n = ek_dims_count(&p.output);
    memset(out_ref, 0, n);
    memset(out_dsp, 0x55, n);
    ek_depthwise_conv2d_s8_eval(&p, in_buf, out_ref, scratch);
    ek_depthwise_conv2d_s8_dsp_pack(&p, weights, p.bias, packed, packed_bias);
    p.weights = packed;
    p.bias = packed_bias;
    if (ek_depthwise_conv2d_s8_dsp_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_depthwise_conv2d_s8_dsp_eval(&p, in_buf, out_dsp, scratch);
    return memcmp(out_ref, out_dsp, n) != 0;
}

static int fc_case(void) {
    ek_fc_params p;
    memset(&p, 0, sizeof p);
    p.batches = uniform(1, 3);
    p.in_features = uniform(1, 70);
    p.out_features = uniform(1, 11);
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
    if (ek_fully_connected_s8_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    const int32_t n = p.batches * p.out_features;
    memset(out_ref, 0, n);
    memset(out_dsp, 0x55, n);
    ek_fully_connected_s8_eval(&p, in_buf, out_ref, scratch);
    ek_fully_connected_s8_dsp_pack(&p, weights, packed);
    p.weights = packed;
    if (ek_fully_connected_s8_dsp_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    ek_fully_connected_s8_dsp_eval(&p, in_buf, out_dsp, scratch);
    return memcmp(out_ref, out_dsp, n) != 0;
}

/* TRANSPOSE_CONV: any stride, padding and output size (TFLite takes the model's), depths with and without the
 * DSP path, output pixels that no tap reaches. */
static int tconv_case(void) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    const int32_t kh = uniform(1, 4), kw = uniform(1, 4);
    p.stride_h = uniform(1, 3);
    p.stride_w = uniform(1, 3);
    p.dilation_h = p.dilation_w = p.depth_multiplier = 1;
    p.pad_top = uniform(0, kh - 1);
    p.pad_left = uniform(0, kw - 1);
    const int32_t in_c = uniform(0, 4) == 0 ? uniform(1, 7) : 4 * uniform(1, 6);
    p.input = (ek_dims){uniform(1, 2), uniform(1, 6), uniform(1, 6), in_c};
    p.filter = (ek_dims){uniform(1, 9), kh, kw, in_c};
    p.output = (ek_dims){p.input.n, (p.input.h - 1) * p.stride_h + kh - p.pad_top + uniform(-1, 2),
                         (p.input.w - 1) * p.stride_w + kw - p.pad_left + uniform(-1, 2), p.filter.n};
    if (p.output.h <= 0 || p.output.w <= 0) {
        return 0;
    }
    p.input_offset = uniform(-127, 128);
    p.output_offset = uniform(-128, 127);
    random_act(&p.act_min, &p.act_max);
    random_quant(p.filter.n);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = uniform(0, 4) ? bias : NULL;
    p.multiplier = mult;
    p.shift = shift;
    if (ek_transpose_conv_s8_prepare(&p, 0) != EK_OK ||
        ek_transpose_conv_s8_dsp_prepare(&p, sizeof scratch) != EK_OK) {
        return 1;
    }
    const int32_t n = ek_dims_count(&p.output);
    memset(out_ref, 0, n);
    memset(out_dsp, 0x55, n);
    ek_transpose_conv_s8_eval(&p, in_buf, out_ref, NULL);
    ek_transpose_conv_s8_dsp_eval(&p, in_buf, out_dsp, scratch);
    return memcmp(out_ref, out_dsp, n) != 0;
}

typedef ek_status (*conv_fn)(const ek_conv_params *, const int8_t *, int8_t *, void *);
typedef ek_status (*fc_fn)(const ek_fc_params *, const int8_t *, int8_t *, void *);

/* the benchmark shapes' outputs differ between the variants (also a bit-exactness check on real layer shapes) */
static int32_t bench_bad = 0;

static void bench_line(const char *kernel, const char *variant, int64_t macs, uint64_t ticks, int first) {
    put(first ? "" : ",");
    put("{\"kernel\":\"");
    put(kernel);
    put("\",\"variant\":\"");
    put(variant);
    put("\",\"macs\":");
    put_int(macs);
    put(",\"ticks\":");
    put_int((int64_t)ticks);
    put("}");
}

/* SAME padding as bench_dw_s */
static void bench_conv_s(const char *name, int32_t hw, int32_t in_c, int32_t out_c, int32_t k, int32_t s,
                         int first) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    p.input = (ek_dims){1, hw, hw, in_c};
    p.filter = (ek_dims){out_c, k, k, in_c};
    p.output = (ek_dims){1, (hw + s - 1) / s, (hw + s - 1) / s, out_c};
    p.stride_h = p.stride_w = s;
    p.dilation_h = p.dilation_w = 1;
    p.pad_top = p.pad_left = s == 1 ? k / 2 : 0;
    p.pad_bottom = p.pad_right = s == 1 ? k / 2 : (k > 1 ? k - 2 : 0);
    p.input_offset = 128;
    p.output_offset = -128;
    p.act_min = -128;
    p.act_max = 127;
    layer_quant(out_c);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = bias;
    p.multiplier = mult;
    p.shift = shift;
    const int64_t macs = (int64_t)p.output.h * p.output.w * out_c * k * k * in_c;
    static const conv_fn fns[2] = {ek_conv2d_s8_eval, ek_conv2d_s8_dsp_eval};
    static const char *names[2] = {"reference", "dsp"};
    ek_conv2d_s8_dsp_pack(&p, weights, packed);
    for (int v = 0; v < 2; ++v) {
        p.weights = v ? packed : weights;
        const uint64_t t0 = ek_port_ticks();
        fns[v](&p, in_buf, v ? out_dsp : out_ref, scratch);
        const uint64_t t1 = ek_port_ticks();
        bench_line(name, names[v], macs, t1 - t0, first && v == 0);
    }
    bench_bad += memcmp(out_ref, out_dsp, ek_dims_count(&p.output)) != 0;
}

static void bench_conv(const char *name, int32_t hw, int32_t in_c, int32_t out_c, int32_t k, int first) {
    bench_conv_s(name, hw, in_c, out_c, k, 1, first);
}

/* SAME padding of an h x w input, stride s (1 or 2): TFLite pads the total k - 1 (stride 1) or, for an even size
 * at stride 2, 1 after (none before), as MobileNet's stride-2 layers are */
static void bench_dw_s(const char *name, int32_t h, int32_t w, int32_t c, int32_t k, int32_t s) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    p.input = (ek_dims){1, h, w, c};
    p.filter = (ek_dims){1, k, k, c};
    p.output = (ek_dims){1, (h + s - 1) / s, (w + s - 1) / s, c};
    p.stride_h = p.stride_w = s;
    p.dilation_h = p.dilation_w = p.depth_multiplier = 1;
    p.pad_top = p.pad_left = s == 1 ? k / 2 : 0;
    p.pad_bottom = p.pad_right = s == 1 ? k / 2 : k - 2;
    p.input_offset = 128;
    p.output_offset = -128;
    p.act_min = -128;
    p.act_max = 127;
    layer_quant(c);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = bias;
    p.multiplier = mult;
    p.shift = shift;
    static const conv_fn fns[2] = {ek_depthwise_conv2d_s8_eval, ek_depthwise_conv2d_s8_dsp_eval};
    static const char *names[2] = {"reference", "dsp"};
    ek_depthwise_conv2d_s8_dsp_pack(&p, weights, bias, packed, packed_bias);
    for (int v = 0; v < 2; ++v) {
        p.weights = v ? packed : weights;
        p.bias = v ? packed_bias : bias;
        const uint64_t t0 = ek_port_ticks();
        fns[v](&p, in_buf, v ? out_dsp : out_ref, scratch);
        const uint64_t t1 = ek_port_ticks();
        bench_line(name, names[v], (int64_t)p.output.h * p.output.w * c * k * k, t1 - t0, 0);
    }
    bench_bad += memcmp(out_ref, out_dsp, ek_dims_count(&p.output)) != 0;
}

static void bench_dw(const char *name, int32_t h, int32_t w, int32_t c, int32_t k) {
    bench_dw_s(name, h, w, c, k, 1);
}

static void bench_fc(const char *name, int32_t in_f, int32_t out_f) {
    ek_fc_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1;
    p.in_features = in_f;
    p.out_features = out_f;
    p.input_offset = 128;
    p.output_offset = -128;
    p.act_min = -128;
    p.act_max = 127;
    layer_quant(out_f);
    fill(in_buf, in_f);
    fill(weights, in_f * out_f);
    p.weights = weights;
    p.bias = bias;
    p.multiplier = mult;
    p.shift = shift;
    static const fc_fn fns[2] = {ek_fully_connected_s8_eval, ek_fully_connected_s8_dsp_eval};
    static const char *names[2] = {"reference", "dsp"};
    ek_fully_connected_s8_dsp_pack(&p, weights, packed);
    for (int v = 0; v < 2; ++v) {
        p.weights = v ? packed : weights;
        const uint64_t t0 = ek_port_ticks();
        fns[v](&p, in_buf, v ? out_dsp : out_ref, scratch);
        const uint64_t t1 = ek_port_ticks();
        bench_line(name, names[v], (int64_t)in_f * out_f, t1 - t0, 0);
    }
}

/* a U-Net's upsampling: 2x2 / 2 VALID, 8x8x16 -> 16x16x8 */
static void bench_tconv(const char *name, int32_t hw, int32_t in_c, int32_t out_c) {
    ek_conv_params p;
    memset(&p, 0, sizeof p);
    p.input = (ek_dims){1, hw, hw, in_c};
    p.filter = (ek_dims){out_c, 2, 2, in_c};
    p.output = (ek_dims){1, 2 * hw, 2 * hw, out_c};
    p.stride_h = p.stride_w = 2;
    p.dilation_h = p.dilation_w = p.depth_multiplier = 1;
    p.input_offset = 128;
    p.output_offset = -128;
    p.act_min = -128;
    p.act_max = 127;
    layer_quant(out_c);
    fill(in_buf, ek_dims_count(&p.input));
    fill(weights, ek_dims_count(&p.filter));
    p.weights = weights;
    p.bias = bias;
    p.multiplier = mult;
    p.shift = shift;
    static const conv_fn fns[2] = {ek_transpose_conv_s8_eval, ek_transpose_conv_s8_dsp_eval};
    static const char *names[2] = {"reference", "dsp"};
    for (int v = 0; v < 2; ++v) {
        const uint64_t t0 = ek_port_ticks();
        fns[v](&p, in_buf, v ? out_dsp : out_ref, scratch);
        const uint64_t t1 = ek_port_ticks();
        bench_line(name, names[v], (int64_t)hw * hw * in_c * 4 * out_c, t1 - t0, 0);
    }
}

/* 2 instructions per iteration (subs, bne): checks how many instructions one SysTick tick is on this board */
static uint64_t calibration_ticks(uint32_t iterations) {
    const uint64_t t0 = ek_port_ticks();
    __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(iterations) : : "cc");
    return ek_port_ticks() - t0;
}

int main(void) {
    ek_port_init();
    int32_t conv_bad = 0, fc_bad = 0, dw_bad = 0, tconv_bad = 0;
    for (int i = 0; i < EK_TEST_CASES; ++i) {
        conv_bad += conv_case();
        conv_bad += conv_fast_case();
        fc_bad += fc_case();
        dw_bad += dw_case();
        dw_bad += dw_fast_case();
        tconv_bad += tconv_case();
    }
    put("{\"cases\":");
    put_int(EK_TEST_CASES);
    put(",\"conv_mismatches\":");
    put_int(conv_bad);
    put(",\"fc_mismatches\":");
    put_int(fc_bad);
    put(",\"depthwise_mismatches\":");
    put_int(dw_bad);
    put(",\"transpose_conv_mismatches\":");
    put_int(tconv_bad);
    put(",\"systick_hz\":");
    put_int(EK_SYSTICK_HZ);
    put(",\"calibration_instructions\":2000000,\"calibration_ticks\":");
    put_int((int64_t)calibration_ticks(1000000));
    put(",\"bench\":[");
    bench_conv("conv2d 3x3 16->32 16x16", 16, 16, 32, 3, 1);
    bench_conv("conv2d 1x1 64->64 8x8", 8, 64, 64, 1, 0);
    bench_fc("fully_connected 1024->256", 1024, 256);
    bench_dw("depthwise 3x3 64ch 25x5", 25, 5, 64, 3);
    bench_dw("depthwise 3x3 32ch 16x16", 16, 16, 32, 3);
    bench_conv("conv2d 1x1 64->64 16x16", 16, 64, 64, 1, 0);
    bench_tconv("transpose_conv 2x2/2 16->8 8x8", 8, 16, 8);
#ifndef EK_TEST_NO_VWW
    /* MLPerf Tiny VWW's (MobileNetV1 0.25, 96x96) layer shapes */
    bench_conv_s("vww conv2d 3x3/2 3->8 96x96", 96, 3, 8, 3, 2, 0);
    bench_dw_s("vww depthwise 3x3 8ch 48x48", 48, 48, 8, 3, 1);
    bench_conv("vww conv2d 1x1 8->16 48x48", 48, 8, 16, 1, 0);
    bench_dw_s("vww depthwise 3x3/2 16ch 48x48", 48, 48, 16, 3, 2);
    bench_conv("vww conv2d 1x1 16->32 24x24", 24, 16, 32, 1, 0);
    bench_dw_s("vww depthwise 3x3 32ch 24x24", 24, 24, 32, 3, 1);
    bench_conv("vww conv2d 1x1 32->32 24x24", 24, 32, 32, 1, 0);
    bench_dw_s("vww depthwise 3x3/2 32ch 24x24", 24, 24, 32, 3, 2);
    bench_dw_s("vww depthwise 3x3 64ch 12x12", 12, 12, 64, 3, 1);
    bench_dw_s("vww depthwise 3x3/2 64ch 12x12", 12, 12, 64, 3, 2);
    bench_dw_s("vww depthwise 3x3 128ch 6x6", 6, 6, 128, 3, 1);
    bench_conv("vww conv2d 1x1 128->128 6x6", 6, 128, 128, 1, 0);
    bench_dw_s("vww depthwise 3x3/2 128ch 6x6", 6, 6, 128, 3, 2);
    bench_dw_s("vww depthwise 3x3 256ch 3x3", 3, 3, 256, 3, 1);
    bench_conv("vww conv2d 1x1 256->256 3x3", 3, 256, 256, 1, 0);
#endif
    put("],\"bench_mismatches\":");
    put_int(bench_bad);
    put("}\n");
    ek_port_fault((uint32_t)(conv_bad + fc_bad + dw_bad + tconv_bad + bench_bad));
    return 0;
}
