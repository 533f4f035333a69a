#include <cmath>

#include "kernels/adamw.h"
#include "kernels/cuda/common.cuh"

namespace engram::cuda {
namespace {

__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, float decay, float step_size,
                             float inv_sqrt_bias2, float b1, float b2, float eps) {
  ENGRAM_GRID_STRIDE_LOOP(i, n) {
    float gi = g[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bias2 + eps);
  }
}

}  // namespace

void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                  const AdamWConfig& c, int64_t step) {
  double bias1 = 1 - std::pow(c.beta1, static_cast<double>(step));
  double bias2 = 1 - std::pow(c.beta2, static_cast<double>(step));
  int64_t n = param.numel();
  launch("adamw_kernel", adamw_kernel, blocks_for(n), kThreads, 0, mptr(param), cptr(grad), mptr(exp_avg),
         mptr(exp_avg_sq), n, static_cast<float>(1 - c.lr * c.weight_decay), static_cast<float>(c.lr / bias1),
         static_cast<float>(1 / std::sqrt(bias2)), static_cast<float>(c.beta1), static_cast<float>(c.beta2),
         static_cast<float>(c.eps));
}

}  // namespace engram::cuda
