// CPU reference of softmax / log_softmax: one row at a time, accumulated in
// double whatever the storage type, so the f32 reference is as exact as f32
// storage allows.
#include "kernels/softmax.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace engram::cpu {

void softmax_forward(const Tensor& x, const Tensor& y, bool log_output) {
  const int64_t rows = x.size(0), cols = x.size(1);
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "softmax", [&] {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    parallel_for(rows, [&](int64_t i) {
      const scalar_t* xr = px + i * cols;
      scalar_t* yr = py + i * cols;
      double row_max = *std::max_element(xr, xr + cols);
      double sum = 0;
      for (int64_t j = 0; j < cols; ++j) sum += std::exp(double(xr[j]) - row_max);
      double log_sum = std::log(sum);
      for (int64_t j = 0; j < cols; ++j) {
        double log_p = double(xr[j]) - row_max - log_sum;
        yr[j] = static_cast<scalar_t>(log_output ? log_p : std::exp(log_p));
      }
    });
  });
}

void softmax_backward(const Tensor& y, const Tensor& grad_y, const Tensor& grad_x, bool log_output) {
  const int64_t rows = y.size(0), cols = y.size(1);
  ENGRAM_DISPATCH_FLOATING(y.dtype(), "softmax_backward", [&] {
    const scalar_t* py = y.data<scalar_t>();
    const scalar_t* pg = grad_y.data<scalar_t>();
    scalar_t* pgx = grad_x.data<scalar_t>();
    parallel_for(rows, [&](int64_t i) {
      const scalar_t* yr = py + i * cols;
      const scalar_t* gr = pg + i * cols;
      scalar_t* gxr = pgx + i * cols;
      // softmax needs <grad_y, y>; log_softmax needs sum(grad_y).
      double reduced = 0;
      for (int64_t j = 0; j < cols; ++j) reduced += log_output ? double(gr[j]) : double(gr[j]) * double(yr[j]);
      for (int64_t j = 0; j < cols; ++j) {
        double g =
            log_output ? double(gr[j]) - std::exp(double(yr[j])) * reduced : double(yr[j]) * (double(gr[j]) - reduced);
        gxr[j] = static_cast<scalar_t>(g);
      }
    });
  });
}

}  // namespace engram::cpu
