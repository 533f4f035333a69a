#include "kernels/sgd.h"

#include "core/parallel.h"

namespace engram::cpu {

namespace {

template <typename T>
void sgd_update(T* param, const T* grad, T* buffer, int64_t n, const SgdConfig& c, bool first_step) {
  const T lr = static_cast<T>(c.lr), momentum = static_cast<T>(c.momentum);
  const T keep = static_cast<T>(1.0 - c.dampening), weight_decay = static_cast<T>(c.weight_decay);
  parallel_for(n, [&](int64_t i) {
    T d = grad[i];
    if (weight_decay != 0) d += weight_decay * param[i];
    if (buffer) {
      T b = first_step ? d : momentum * buffer[i] + keep * d;
      buffer[i] = b;
      d = c.nesterov ? d + momentum * b : b;
    }
    param[i] -= lr * d;
  });
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdConfig& config, bool first_step) {
  for (size_t k = 0; k < params.size(); ++k) {
    ENGRAM_DISPATCH_FLOATING(params[k].dtype(), "sgd_step", [&] {
      scalar_t* buffer = momentum_buffers.empty() ? nullptr : momentum_buffers[k].data<scalar_t>();
      sgd_update(params[k].data<scalar_t>(), grads[k].data<scalar_t>(), buffer, params[k].numel(), config, first_step);
    });
  }
}

}  // namespace engram::cpu
