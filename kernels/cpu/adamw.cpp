#include "kernels/adamw.h"

#include <cmath>

#include "core/parallel.h"

namespace engram::cpu {

void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                  const AdamWConfig& c, int64_t step) {
  ENGRAM_DISPATCH_FLOATING(param.dtype(), "adamw_step", [&] {
    scalar_t* p = param.data<scalar_t>();
    const scalar_t* g = grad.data<scalar_t>();
    scalar_t* m = exp_avg.data<scalar_t>();
    scalar_t* v = exp_avg_sq.data<scalar_t>();
    double bias1 = 1 - std::pow(c.beta1, static_cast<double>(step));
    double bias2 = 1 - std::pow(c.beta2, static_cast<double>(step));
    scalar_t decay = static_cast<scalar_t>(1 - c.lr * c.weight_decay);
    scalar_t step_size = static_cast<scalar_t>(c.lr / bias1);
    scalar_t inv_sqrt_bias2 = static_cast<scalar_t>(1 / std::sqrt(bias2));
    scalar_t b1 = static_cast<scalar_t>(c.beta1), b2 = static_cast<scalar_t>(c.beta2);
    scalar_t eps = static_cast<scalar_t>(c.eps);
    parallel_for(param.numel(), [&](int64_t i) {
      p[i] *= decay;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bias2 + eps);
    });
  });
}

}  // namespace engram::cpu
