#include "kernels/elementwise.h"

#include <algorithm>

#include "core/parallel.h"

namespace engram::cpu {

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  ENGRAM_DISPATCH_FLOATING(a.dtype(), "binary", [&] {
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    switch (op) {
      case BinaryOp::add: parallel_for(a.numel(), [&](int64_t i) { po[i] = pa[i] + pb[i]; }); break;
      case BinaryOp::sub: parallel_for(a.numel(), [&](int64_t i) { po[i] = pa[i] - pb[i]; }); break;
      case BinaryOp::mul: parallel_for(a.numel(), [&](int64_t i) { po[i] = pa[i] * pb[i]; }); break;
    }
  });
}

void scale(const Tensor& x, double factor, const Tensor& out) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "scale", [&] {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    scalar_t f = static_cast<scalar_t>(factor);
    parallel_for(x.numel(), [&](int64_t i) { po[i] = f * px[i]; });
  });
}

void relu_forward(const Tensor& x, const Tensor& y) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "relu", [&] {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    parallel_for(x.numel(), [&](int64_t i) { py[i] = std::max(px[i], scalar_t(0)); });
  });
}

void relu_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x) {
  ENGRAM_DISPATCH_FLOATING(y.dtype(), "relu_backward", [&] {
    const scalar_t* py = y.data<scalar_t>();
    const scalar_t* pg = grad_y.data<scalar_t>();
    scalar_t* pgx = grad_x.data<scalar_t>();
    parallel_for(y.numel(), [&](int64_t i) { pgx[i] = py[i] > 0 ? pg[i] : scalar_t(0); });
  });
}

void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  ENGRAM_DISPATCH_FLOATING(a.dtype(), "add_relu", [&] {
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    parallel_for(a.numel(), [&](int64_t i) { py[i] = std::max(pa[i] + pb[i], scalar_t(0)); });
  });
}

}  // namespace engram::cpu
