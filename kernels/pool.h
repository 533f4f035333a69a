#pragma once
// 2-D pooling over NCHW tensors, with PyTorch's semantics (no ceil_mode, no
// dilation). Output size per spatial dimension: (in + 2 * padding - kernel) / stride + 1.
//
// max_pool2d pads with -inf, so a padded cell never wins; the index of the
// winning input (h * W + w within its plane, the first maximum in row-major
// window order, NaN wins) is saved for the backward pass.
// avg_pool2d divides by kernel_h * kernel_w when count_include_pad, else by the
// number of real (unpadded) cells in the window.
// adaptive_avg_pool2d: output cell o of a dimension averages inputs
// [floor(o * in / out), ceil((o + 1) * in / out)).
// global_avg_pool2d: [N, C, H, W] -> [N, C], the mean over each plane.
#include "core/tensor.h"

namespace engram {

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0, bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);
Tensor global_avg_pool2d(const Tensor& x);

// The window of a fixed-size pooling; sizes of the planes come from the tensors.
struct PoolWindow {
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
};

// Backends. x / grad_x are [N, C, H, W]; y / grad_y are [N, C, OH, OW]
// ([N, C] for global pooling); argmax is i32 with y's shape. Every output is
// fully written (=).
namespace cpu {
void max_pool2d_forward(const Tensor& x, const PoolWindow& window, const Tensor& y, const Tensor& argmax);
void max_pool2d_backward(const Tensor& grad_y, const Tensor& argmax, const PoolWindow& window, const Tensor& grad_x);
void avg_pool2d_forward(const Tensor& x, const PoolWindow& window, bool count_include_pad, const Tensor& y);
void avg_pool2d_backward(const Tensor& grad_y, const PoolWindow& window, bool count_include_pad, const Tensor& grad_x);
void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y);
void adaptive_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x);
void global_avg_pool2d_forward(const Tensor& x, const Tensor& y);
void global_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x);
}  // namespace cpu

namespace cuda {
void max_pool2d_forward(const Tensor& x, const PoolWindow& window, const Tensor& y, const Tensor& argmax);
void max_pool2d_backward(const Tensor& grad_y, const Tensor& argmax, const PoolWindow& window, const Tensor& grad_x);
void avg_pool2d_forward(const Tensor& x, const PoolWindow& window, bool count_include_pad, const Tensor& y);
void avg_pool2d_backward(const Tensor& grad_y, const PoolWindow& window, bool count_include_pad, const Tensor& grad_x);
void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y);
void adaptive_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x);
void global_avg_pool2d_forward(const Tensor& x, const Tensor& y);
void global_avg_pool2d_backward(const Tensor& grad_y, const Tensor& grad_x);
}  // namespace cuda

}  // namespace engram
