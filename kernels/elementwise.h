#pragma once
// Elementwise ops on tensors of identical shape (no broadcasting; bias-style
// broadcasts live inside linear, conv2d and batchnorm).
#include "core/tensor.h"

namespace engram {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double factor);  // factor * x
Tensor relu(const Tensor& x);
Tensor add_relu(const Tensor& a, const Tensor& b);  // relu(a + b), the residual join

enum class BinaryOp { add, sub, mul };

// Backends. `out` has the inputs' shape; it may alias an input.
namespace cpu {
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void scale(const Tensor& x, double factor, const Tensor& out);
void relu_forward(const Tensor& x, const Tensor& y);
// grad_x = grad_y where y > 0, else 0 (y is relu's output).
void relu_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x);
void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y);
}  // namespace cpu

namespace cuda {
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void scale(const Tensor& x, double factor, const Tensor& out);
void relu_forward(const Tensor& x, const Tensor& y);
void relu_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x);
void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y);
}  // namespace cuda

}  // namespace engram
