/* CONV_2D int8, optimised for the DSP extension; bit-exact with ek_conv2d_s8_ref.
 *
 * im2col for two output pixels at a time into scratch as int16 (input + offset; zero where the window is in the
 * padding, which is what the reference's skipped terms contribute), in SXTB16 order per group of 4, then a 2x2
 * block (two output channels x two pixels) of SMLAD dot products over the filter. Applies when the input depth is
 * a multiple of 4 and the convolution is not grouped; other shapes run the reference kernel. */
#include "ek_dsp.h"
#include "ek_fixedpoint.h"
#include "ek_kernels.h"

static int dsp_applies(const ek_conv_params *p) {
    return p->filter.c == p->input.c && p->input.c % 4 == 0;
}

int32_t ek_conv2d_s8_dsp_scratch_bytes(const ek_conv_params *p) {
    return dsp_applies(p) ? 2 * p->filter.h * p->filter.w * p->filter.c * 2 : 0;
}

#if defined(__ARM_FEATURE_DSP)

/* One im2col column for output pixel (b, oy, ox): K/4 groups of two words. */
static void im2col(const ek_conv_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox, uint32_t *col,
                   uint32_t offset2) {
    const ek_dims in = p->input;
    const int32_t groups = in.c / 4;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    for (int32_t fy = 0; fy < p->filter.h; ++fy) {
        const int32_t iy = iy0 + p->dilation_h * fy;
        for (int32_t fx = 0; fx < p->filter.w; ++fx) {
            const int32_t ix = ix0 + p->dilation_w * fx;
            if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) {
                for (int32_t g = 0; g < groups; ++g) {
                    col[0] = 0;
                    col[1] = 0;
                    col += 2;
                }
                continue;
            }
            const int8_t *x = input + ((b * in.h + iy) * in.w + ix) * in.c;
            for (int32_t g = 0; g < groups; ++g) {
                const uint32_t w = ek_load_u32(x);
                x += 4;
                col[0] = ek_sadd16(ek_sxtb16(w), offset2);
                col[1] = ek_sadd16(ek_sxtb16_ror8(w), offset2);
                col += 2;
            }
        }
    }
}

static inline int8_t finish(const ek_conv_params *p, int32_t acc, int32_t oc) {
    if (p->bias != NULL) {
        acc += p->bias[oc];
    }
    acc = ek_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
    return (int8_t)ek_clamp(acc, p->act_min, p->act_max);
}

/* out[pixel][oc] for `npix` (1 or 2) columns in colA/colB. */
static void matmul(const ek_conv_params *p, const uint32_t *colA, const uint32_t *colB, int32_t npix, int8_t *outA,
                   int8_t *outB) {
    const int32_t k = p->filter.h * p->filter.w * p->filter.c, groups = k / 4, out_c = p->output.c;
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *w0 = p->weights + oc * k, *w1 = w0 + k;
        int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;  /* a<channel><pixel> */
        const uint32_t *ca = colA, *cb = colB;
        if (npix == 2) {
            for (int32_t g = 0; g < groups; ++g) {
                const uint32_t u = ek_load_u32(w0), v = ek_load_u32(w1);
                w0 += 4;
                w1 += 4;
                const uint32_t u0 = ek_sxtb16(u), u1 = ek_sxtb16_ror8(u);
                const uint32_t v0 = ek_sxtb16(v), v1 = ek_sxtb16_ror8(v);
                uint32_t c0 = ca[0], c1 = ca[1];
                ca += 2;
                a00 = ek_smlad(u0, c0, a00);
                a00 = ek_smlad(u1, c1, a00);
                a10 = ek_smlad(v0, c0, a10);
                a10 = ek_smlad(v1, c1, a10);
                c0 = cb[0];
                c1 = cb[1];
                cb += 2;
                a01 = ek_smlad(u0, c0, a01);
                a01 = ek_smlad(u1, c1, a01);
                a11 = ek_smlad(v0, c0, a11);
                a11 = ek_smlad(v1, c1, a11);
            }
            outB[oc] = finish(p, a01, oc);
            outB[oc + 1] = finish(p, a11, oc + 1);
        } else {
            for (int32_t g = 0; g < groups; ++g) {
                const uint32_t u = ek_load_u32(w0), v = ek_load_u32(w1);
                w0 += 4;
                w1 += 4;
                const uint32_t c0 = ca[0], c1 = ca[1];
                ca += 2;
                a00 = ek_smlad(ek_sxtb16(u), c0, a00);
                a00 = ek_smlad(ek_sxtb16_ror8(u), c1, a00);
                a10 = ek_smlad(ek_sxtb16(v), c0, a10);
                a10 = ek_smlad(ek_sxtb16_ror8(v), c1, a10);
            }
        }
        outA[oc] = finish(p, a00, oc);
        outA[oc + 1] = finish(p, a10, oc + 1);
    }
    for (; oc < out_c; ++oc) {  /* an odd last channel */
        const int8_t *w0 = p->weights + oc * k;
        int32_t a0 = 0, a1 = 0;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t u = ek_load_u32(w0 + 4 * g);
            const uint32_t u0 = ek_sxtb16(u), u1 = ek_sxtb16_ror8(u);
            a0 = ek_smlad(u1, colA[2 * g + 1], ek_smlad(u0, colA[2 * g], a0));
            if (npix == 2) {
                a1 = ek_smlad(u1, colB[2 * g + 1], ek_smlad(u0, colB[2 * g], a1));
            }
        }
        outA[oc] = finish(p, a0, oc);
        if (npix == 2) {
            outB[oc] = finish(p, a1, oc);
        }
    }
}

ek_status ek_conv2d_s8_dsp(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    if (!dsp_applies(p)) {
        return ek_conv2d_s8_ref(p, input, output, scratch);
    }
    const ek_dims out = p->output;
    const int32_t k = p->filter.h * p->filter.w * p->filter.c;
    const uint32_t offset2 = ((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16);
    uint32_t *colA = (uint32_t *)scratch, *colB = colA + k / 2;
    const int32_t pixels = out.n * out.h * out.w;
    for (int32_t i = 0; i < pixels; i += 2) {
        const int32_t npix = i + 1 < pixels ? 2 : 1;
        for (int32_t j = 0; j < npix; ++j) {
            const int32_t pix = i + j, b = pix / (out.h * out.w), rem = pix % (out.h * out.w);
            im2col(p, input, b, rem / out.w, rem % out.w, j ? colB : colA, offset2);
        }
        matmul(p, colA, colB, npix, output + i * out.c, output + (i + 1) * out.c);
    }
    return EK_OK;
}

#else

ek_status ek_conv2d_s8_dsp(const ek_conv_params *p, const int8_t *input, int8_t *output, void *scratch) {
    return ek_conv2d_s8_ref(p, input, output, scratch);  /* no DSP extension on this core */
}

#endif
