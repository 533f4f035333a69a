// CPU reference of linear's bias helpers.
#include "kernels/matmul.h"

#include "core/parallel.h"

namespace engram::cpu {

namespace {

// Column sums of a row-major [n, features] matrix. Each sum runs in row order,
// so the result does not depend on the thread count.
template <typename T>
void column_sums(const T* rows, int64_t n, int64_t features, T* sums) {
#pragma omp parallel for schedule(static) if (n * features >= kParallelGrain)
  for (int64_t j = 0; j < features; ++j) {
    T sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += rows[i * features + j];
    sums[j] = sum;
  }
}

}  // namespace

void bias_broadcast(const Tensor& bias, const Tensor& rows) {
  ENGRAM_DISPATCH_FLOATING(rows.dtype(), "bias_broadcast", [&] {
    const scalar_t* pb = bias.data<scalar_t>();
    scalar_t* pr = rows.data<scalar_t>();
    int64_t features = rows.size(1);
    parallel_for(rows.numel(), [&](int64_t i) { pr[i] = pb[i % features]; });
  });
}

void bias_backward(const Tensor& grad_rows, const Tensor& grad_bias) {
  ENGRAM_DISPATCH_FLOATING(grad_rows.dtype(), "bias_backward", [&] {
    column_sums(grad_rows.data<scalar_t>(), grad_rows.size(0), grad_rows.size(1), grad_bias.data<scalar_t>());
  });
}

}  // namespace engram::cpu
