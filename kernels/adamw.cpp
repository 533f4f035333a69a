#include "kernels/adamw.h"

#include "kernels/dispatch.h"

namespace engram {

void adamw_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq, const AdamWConfig& config,
                int64_t step) {
  ENGRAM_CHECK(grads.size() == params.size() && exp_avg.size() == params.size() &&
                   exp_avg_sq.size() == params.size(),
               ValueError, "adamw_step",
               "expected as many gradients and moment buffers as parameters (" + std::to_string(params.size()) +
                   "), got " + std::to_string(grads.size()) + ", " + std::to_string(exp_avg.size()) + ", " +
                   std::to_string(exp_avg_sq.size()));
  ENGRAM_CHECK(step >= 1, ValueError, "adamw_step", "step counts from 1, got " + std::to_string(step));
  ENGRAM_CHECK(config.lr >= 0 && config.eps > 0 && config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 &&
                   config.beta2 < 1 && config.weight_decay >= 0,
               ValueError, "adamw_step", "expected lr >= 0, eps > 0, betas in [0, 1), weight_decay >= 0");
  for (size_t i = 0; i < params.size(); ++i) {
    for (const Tensor* t : {&grads[i], &exp_avg[i], &exp_avg_sq[i]}) {
      check_floating("adamw_step", "state", *t);
      check_same_shape("adamw_step", params[i], *t);
      check_same_device("adamw_step", params[i], *t);
      check_same_dtype("adamw_step", params[i], *t);
    }
    ENGRAM_DISPATCH(adamw, "adamw_step", params[i], adamw_update, params[i], grads[i], exp_avg[i], exp_avg_sq[i], config, step);
  }
}

}  // namespace engram
