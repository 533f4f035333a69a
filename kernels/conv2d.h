#pragma once
// 2-D convolution (cross-correlation, as in PyTorch), NCHW.
//
//   x      [N, C_in, H, W]
//   weight [C_out, C_in / groups, KH, KW]   (PyTorch layout)
//   bias   [C_out] or an undefined Tensor
//   y      [N, C_out, H_out, W_out],  H_out = (H + 2 pad_h - dilation_h (KH - 1) - 1) / stride_h + 1
//
// y[n, co, oh, ow] = bias[co] + sum_{c in group(co), kh, kw}
//                    weight[co, c, kh, kw] * x[n, c, oh stride_h - pad_h + kh dilation_h, ...]
// with zeros outside the input. Gradients: x (data gradient, "dgrad"),
// weight ("wgrad") and bias.
#include <cstdint>

#include "core/tensor.h"

namespace engram {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  // The same stride, padding and dilation in both directions.
  static Conv2dParams square(int64_t stride, int64_t pad = 0, int64_t dilation = 1, int64_t groups = 1) {
    return {stride, stride, pad, pad, dilation, dilation, groups};
  }
};

// Every size of one convolution, derived once from the operands' shapes.
struct Conv2dGeometry {
  int64_t batch = 0, in_channels = 0, height = 0, width = 0;
  int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;
  int64_t out_height = 0, out_width = 0;
  Conv2dParams params;

  int64_t in_channels_per_group() const { return in_channels / params.groups; }
  int64_t out_channels_per_group() const { return out_channels / params.groups; }
  // 2 * N * C_out * H_out * W_out * C_in/groups * KH * KW: the multiply-adds of one pass.
  double flops() const;
};

// Validates shapes and parameters (throws ShapeError / ValueError naming
// `op`) and returns the geometry. x_shape [N, C_in, H, W], weight_shape
// [C_out, C_in/groups, KH, KW].
Conv2dGeometry conv2d_geometry(const char* op, const Shape& x_shape, const Shape& weight_shape,
                               const Conv2dParams& params);

// The differentiable op. bias may be undefined (no bias).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params = {});

// Backends. Arguments are validated and outputs allocated by the caller;
// every function writes (=) its output.
//   conv2d_forward:          y  = conv(x, weight) + bias   (bias may be undefined)
//   conv2d_backward_data:    grad_x      from grad_y and weight
//   conv2d_backward_weight:  grad_weight from grad_y and x
//   conv2d_backward_bias:    grad_bias[co] = sum over n, oh, ow of grad_y[n, co, oh, ow]
namespace cpu {
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                    const Tensor& y);
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, const Conv2dParams& params, const Tensor& grad_x);
void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& params,
                            const Tensor& grad_weight);
void conv2d_backward_bias(const Tensor& grad_y, const Tensor& grad_bias);
}  // namespace cpu

namespace cuda {
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                    const Tensor& y);
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, const Conv2dParams& params, const Tensor& grad_x);
void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& params,
                            const Tensor& grad_weight);
void conv2d_backward_bias(const Tensor& grad_y, const Tensor& grad_bias);
}  // namespace cuda

// cuDNN (FP32 FMA math, TF32 off); defined only when built with cuDNN.
namespace vendor {
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                    const Tensor& y);
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, const Conv2dParams& params, const Tensor& grad_x);
void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& params,
                            const Tensor& grad_weight);
void conv2d_backward_bias(const Tensor& grad_y, const Tensor& grad_bias);
}  // namespace vendor

}  // namespace engram
