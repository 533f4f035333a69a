#include "kernels/conv2d.h"

#include <string>

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

double Conv2dGeometry::flops() const {
  return 2.0 * static_cast<double>(batch) * static_cast<double>(out_channels) * static_cast<double>(out_height) *
         static_cast<double>(out_width) * static_cast<double>(in_channels_per_group()) * static_cast<double>(kernel_h) *
         static_cast<double>(kernel_w);
}

Conv2dGeometry conv2d_geometry(const char* op, const Shape& x_shape, const Shape& weight_shape, const Conv2dParams& p) {
  ENGRAM_CHECK(x_shape.size() == 4, ShapeError, op,
               "input must be 4-D [N, C_in, H, W], got shape " + shape_str(x_shape));
  ENGRAM_CHECK(weight_shape.size() == 4, ShapeError, op,
               "weight must be 4-D [C_out, C_in/groups, KH, KW], got shape " + shape_str(weight_shape));
  ENGRAM_CHECK(p.stride_h > 0 && p.stride_w > 0, ValueError, op,
               "stride must be positive, got " + std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w));
  ENGRAM_CHECK(p.dilation_h > 0 && p.dilation_w > 0, ValueError, op,
               "dilation must be positive, got " + std::to_string(p.dilation_h) + "x" + std::to_string(p.dilation_w));
  ENGRAM_CHECK(p.pad_h >= 0 && p.pad_w >= 0, ValueError, op,
               "padding must be non-negative, got " + std::to_string(p.pad_h) + "x" + std::to_string(p.pad_w));
  ENGRAM_CHECK(p.groups > 0, ValueError, op, "groups must be positive, got " + std::to_string(p.groups));

  Conv2dGeometry g;
  g.params = p;
  g.batch = x_shape[0], g.in_channels = x_shape[1], g.height = x_shape[2], g.width = x_shape[3];
  g.out_channels = weight_shape[0], g.kernel_h = weight_shape[2], g.kernel_w = weight_shape[3];
  ENGRAM_CHECK(g.in_channels % p.groups == 0, ValueError, op,
               "C_in = " + std::to_string(g.in_channels) + " is not divisible by groups = " + std::to_string(p.groups));
  ENGRAM_CHECK(
      g.out_channels % p.groups == 0, ValueError, op,
      "C_out = " + std::to_string(g.out_channels) + " is not divisible by groups = " + std::to_string(p.groups));
  ENGRAM_CHECK(weight_shape[1] * p.groups == g.in_channels, ShapeError, op,
               "weight " + shape_str(weight_shape) + " expects C_in/groups = " + std::to_string(weight_shape[1]) +
                   " input channels per group, got input " + shape_str(x_shape) +
                   " with groups = " + std::to_string(p.groups));
  ENGRAM_CHECK(g.out_channels > 0 && g.kernel_h > 0 && g.kernel_w > 0 && g.in_channels > 0, ShapeError, op,
               "expected non-empty channels and kernel, got input " + shape_str(x_shape) + " and weight " +
                   shape_str(weight_shape));
  g.out_height = (g.height + 2 * p.pad_h - p.dilation_h * (g.kernel_h - 1) - 1) / p.stride_h + 1;
  g.out_width = (g.width + 2 * p.pad_w - p.dilation_w * (g.kernel_w - 1) - 1) / p.stride_w + 1;
  // The numerator may be negative; C++ division truncates towards zero, so test it directly.
  bool fits_h = g.height + 2 * p.pad_h >= p.dilation_h * (g.kernel_h - 1) + 1;
  bool fits_w = g.width + 2 * p.pad_w >= p.dilation_w * (g.kernel_w - 1) + 1;
  ENGRAM_CHECK(fits_h && fits_w, ShapeError, op,
               "output size would be non-positive: padded input " + std::to_string(g.height + 2 * p.pad_h) + "x" +
                   std::to_string(g.width + 2 * p.pad_w) + " is smaller than the dilated kernel " +
                   std::to_string(p.dilation_h * (g.kernel_h - 1) + 1) + "x" +
                   std::to_string(p.dilation_w * (g.kernel_w - 1) + 1));
  return g;
}

namespace {

Tensor backward_data(const Tensor& grad_y, const Tensor& weight, const Shape& x_shape, const Conv2dParams& p) {
  Tensor grad_x = Tensor::empty(x_shape, grad_y.dtype(), grad_y.device());
  ENGRAM_DISPATCH(conv, "conv2d", grad_y, conv2d_backward_data, grad_y, weight, p, grad_x);
  return grad_x;
}

Tensor backward_weight(const Tensor& grad_y, const Tensor& x, const Shape& weight_shape, const Conv2dParams& p) {
  Tensor grad_weight = Tensor::empty(weight_shape, grad_y.dtype(), grad_y.device());
  ENGRAM_DISPATCH(conv, "conv2d", grad_y, conv2d_backward_weight, grad_y, x, p, grad_weight);
  return grad_weight;
}

Tensor backward_bias(const Tensor& grad_y) {
  Tensor grad_bias = Tensor::empty({grad_y.size(1)}, grad_y.dtype(), grad_y.device());
  ENGRAM_DISPATCH(conv, "conv2d", grad_y, conv2d_backward_bias, grad_y, grad_bias);
  return grad_bias;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params) {
  const char* op = "conv2d";
  check_floating(op, "input", x);
  check_floating(op, "weight", weight);
  check_same_dtype(op, x, weight);
  check_same_device(op, x, weight);
  Conv2dGeometry g = conv2d_geometry(op, x.shape(), weight.shape(), params);
  if (bias.defined()) {
    check_same_dtype(op, x, bias);
    check_same_device(op, x, bias);
    ENGRAM_CHECK(
        bias.shape() == Shape{g.out_channels}, ShapeError, op,
        "bias must be [C_out] = [" + std::to_string(g.out_channels) + "], got shape " + shape_str(bias.shape()));
  }

  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_height, g.out_width}, x.dtype(), x.device());
  ENGRAM_DISPATCH(conv, op, x, conv2d_forward, x, weight, bias, params, y);

  bool need_x = x.requires_grad(), need_weight = weight.requires_grad();
  bool need_bias = bias.defined() && bias.requires_grad();
  Tensor x_saved = need_weight ? x.detach() : Tensor();
  Tensor weight_saved = need_x ? weight.detach() : Tensor();
  Shape x_shape = x.shape(), weight_shape = weight.shape();
  return autograd::record(op, y, {x, weight, bias}, [=](const Tensor& grad_y) {
    std::vector<Tensor> grads(3);
    if (need_x) grads[0] = backward_data(grad_y, weight_saved, x_shape, params);
    if (need_weight) grads[1] = backward_weight(grad_y, x_saved, weight_shape, params);
    if (need_bias) grads[2] = backward_bias(grad_y);
    return grads;
  });
}

}  // namespace engram
