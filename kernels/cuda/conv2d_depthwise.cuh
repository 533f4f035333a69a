#pragma once
// Index arithmetic of the depthwise kernels (conv2d_depthwise.cu), as
// host/device functions of one output, input or weight element so that a CPU
// test can run them too.
#include "kernels/cuda/conv2d_common.cuh"

namespace engram::cuda::conv {

struct DepthwiseDims {
  ConvDims d;
  int multiplier;
  FastDivmod width_div, height_div, channels_div;          // W, H, C: input-pixel decomposition
  FastDivmod out_width_div, out_height_div, out_chan_div;  // Q, P, K: output-pixel decomposition
  FastDivmod multiplier_div, taps_div, kernel_w_div, out_pixels_div;

  explicit DepthwiseDims(const Conv2dGeometry& g) : d(g) {
    multiplier = d.out_channels / d.in_channels;
    width_div = FastDivmod(d.width), height_div = FastDivmod(d.height), channels_div = FastDivmod(d.in_channels);
    out_width_div = FastDivmod(d.out_width), out_height_div = FastDivmod(d.out_height);
    out_chan_div = FastDivmod(d.out_channels);
    multiplier_div = FastDivmod(multiplier), taps_div = FastDivmod(d.kernel_h * d.kernel_w);
    kernel_w_div = FastDivmod(d.kernel_w), out_pixels_div = FastDivmod(d.out_height * d.out_width);
  }
};

// y[i] for the flat output index i = ((img * K + co) * P + oh) * Q + ow.
ENGRAM_CONV_HD float depthwise_output(const DepthwiseDims& dd, const float* x, const float* w, const float* bias,
                                      int i) {
  const ConvDims& d = dd.d;
  int ow, oh, co;
  int rest = dd.out_width_div.divmod(i, ow);
  rest = dd.out_height_div.divmod(rest, oh);
  int img = dd.out_chan_div.divmod(rest, co);
  int c = dd.multiplier_div.div(co);
  const float* plane = x + (img * d.in_channels + c) * d.height * d.width;
  const float* filter = w + co * d.kernel_h * d.kernel_w;
  float acc = bias ? load_readonly(bias + co) : 0.0f;
  for (int r = 0; r < d.kernel_h; ++r) {
    int ih = oh * d.stride_h - d.pad_h + r * d.dilation_h;
    if (static_cast<unsigned>(ih) >= static_cast<unsigned>(d.height)) continue;
    for (int s = 0; s < d.kernel_w; ++s) {
      int iw = ow * d.stride_w - d.pad_w + s * d.dilation_w;
      if (static_cast<unsigned>(iw) < static_cast<unsigned>(d.width))
        acc = fmaf(load_readonly(filter + r * d.kernel_w + s), load_readonly(plane + ih * d.width + iw), acc);
    }
  }
  return acc;
}

// The output row that input row h receives from through tap r, or -1.
ENGRAM_CONV_HD int source_row(int h, int r, int pad, int dilation, int stride, int out_size) {
  int t = h + pad - r * dilation;
  if (t < 0 || t % stride != 0) return -1;
  t /= stride;
  return t < out_size ? t : -1;
}

// grad_x[i] for the flat input index i = ((img * C + c) * H + ih) * W + iw.
ENGRAM_CONV_HD float depthwise_input_gradient(const DepthwiseDims& dd, const float* grad_y, const float* w, int i) {
  const ConvDims& d = dd.d;
  const int out_plane = d.out_height * d.out_width;
  int iw, ih, c;
  int rest = dd.width_div.divmod(i, iw);
  rest = dd.height_div.divmod(rest, ih);
  int img = dd.channels_div.divmod(rest, c);
  float acc = 0.0f;
  for (int j = 0; j < dd.multiplier; ++j) {
    const int co = c * dd.multiplier + j;
    const float* plane = grad_y + (img * d.out_channels + co) * out_plane;
    const float* filter = w + co * d.kernel_h * d.kernel_w;
    for (int r = 0; r < d.kernel_h; ++r) {
      int oh = source_row(ih, r, d.pad_h, d.dilation_h, d.stride_h, d.out_height);
      if (oh < 0) continue;
      for (int s = 0; s < d.kernel_w; ++s) {
        int ow = source_row(iw, s, d.pad_w, d.dilation_w, d.stride_w, d.out_width);
        if (ow >= 0)
          acc = fmaf(load_readonly(filter + r * d.kernel_w + s), load_readonly(plane + oh * d.out_width + ow), acc);
      }
    }
  }
  return acc;
}

// One thread's share of grad_w[filter_tap] (filter_tap = co * R * S + r * S + s): the
// products of batch x output pixels thread, thread + threads, ...
ENGRAM_CONV_HD float depthwise_weight_gradient_part(const DepthwiseDims& dd, const float* grad_y, const float* x,
                                                    int filter_tap, int thread, int threads) {
  const ConvDims& d = dd.d;
  int tap, s;
  const int co = dd.taps_div.divmod(filter_tap, tap);
  const int r = dd.kernel_w_div.divmod(tap, s);
  const int c = dd.multiplier_div.div(co);
  const int out_plane = d.out_height * d.out_width;
  const int count = d.batch * out_plane;
  float acc = 0.0f;
  for (int i = thread; i < count; i += threads) {
    int pixel, ow;
    int img = dd.out_pixels_div.divmod(i, pixel);
    int oh = dd.out_width_div.divmod(pixel, ow);
    int ih = oh * d.stride_h - d.pad_h + r * d.dilation_h;
    int iw = ow * d.stride_w - d.pad_w + s * d.dilation_w;
    if (static_cast<unsigned>(ih) < static_cast<unsigned>(d.height) &&
        static_cast<unsigned>(iw) < static_cast<unsigned>(d.width)) {
      float g = load_readonly(grad_y + (img * d.out_channels + co) * out_plane + pixel);
      acc = fmaf(g, load_readonly(x + ((img * d.in_channels + c) * d.height + ih) * d.width + iw), acc);
    }
  }
  return acc;
}

}  // namespace engram::cuda::conv
