#include "kernels/elementwise.h"

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_floating(op, "a", a);
  check_floating(op, "b", b);
  check_same_device(op, a, b);
  check_same_dtype(op, a, b);
  check_same_shape(op, a, b);
}

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty_like(a);
  ENGRAM_DISPATCH(elementwise, "binary", a, binary, op, a, b, out);
  return out;
}

Tensor scale_op(const Tensor& x, double factor) {
  Tensor out = Tensor::empty_like(x);
  ENGRAM_DISPATCH(elementwise, "scale", x, scale, x, factor, out);
  return out;
}

Tensor relu_grad(const Tensor& y, const Tensor& grad_y) {
  Tensor grad_x = Tensor::empty_like(y);
  ENGRAM_DISPATCH(elementwise, "relu", y, relu_backward, y, grad_y, grad_x);
  return grad_x;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_pair("add", a, b);
  return autograd::record("add", binary_op(BinaryOp::add, a, b), {a, b},
                          [](const Tensor& g) { return std::vector<Tensor>{g, g}; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_pair("sub", a, b);
  return autograd::record("sub", binary_op(BinaryOp::sub, a, b), {a, b},
                          [](const Tensor& g) { return std::vector<Tensor>{g, scale_op(g, -1.0)}; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_pair("mul", a, b);
  Tensor a_saved = a.detach(), b_saved = b.detach();
  return autograd::record("mul", binary_op(BinaryOp::mul, a, b), {a, b}, [a_saved, b_saved](const Tensor& g) {
    return std::vector<Tensor>{binary_op(BinaryOp::mul, g, b_saved), binary_op(BinaryOp::mul, g, a_saved)};
  });
}

Tensor scale(const Tensor& x, double factor) {
  check_floating("scale", "x", x);
  return autograd::record("scale", scale_op(x, factor), {x},
                          [factor](const Tensor& g) { return std::vector<Tensor>{scale_op(g, factor)}; });
}

Tensor relu(const Tensor& x) {
  check_floating("relu", "x", x);
  Tensor y = Tensor::empty_like(x);
  ENGRAM_DISPATCH(elementwise, "relu", x, relu_forward, x, y);
  Tensor y_saved = y.detach();
  return autograd::record("relu", y, {x},
                          [y_saved](const Tensor& g) { return std::vector<Tensor>{relu_grad(y_saved, g)}; });
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  check_pair("add_relu", a, b);
  Tensor y = Tensor::empty_like(a);
  ENGRAM_DISPATCH(elementwise, "add_relu", a, add_relu_forward, a, b, y);
  Tensor y_saved = y.detach();
  return autograd::record("add_relu", y, {a, b}, [y_saved](const Tensor& g) {
    Tensor grad = relu_grad(y_saved, g);
    return std::vector<Tensor>{grad, grad};
  });
}

}  // namespace engram
