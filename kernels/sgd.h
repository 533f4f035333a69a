#pragma once
// The fused SGD step that optim/ calls: PyTorch's torch.optim.SGD formula,
// applied in place to every parameter in one pass (one launch per group of
// tensors on CUDA, no allocation, no host sync):
//
//   d   = grad + weight_decay * param
//   buf = first_step ? d : momentum * buf + (1 - dampening) * d   (only when momentum != 0)
//   d   = nesterov ? d + momentum * buf : buf                      (only when momentum != 0)
//   param -= lr * d
#include <vector>

#include "core/tensor.h"

namespace engram {

struct SgdConfig {
  double lr = 0;  // set it: the default leaves parameters unchanged
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

// Updates params (and momentum_buffers, when momentum != 0) in place.
// grads[k] and momentum_buffers[k] match params[k] in shape, dtype and
// device; all tensors are on one device. With momentum == 0 the buffers are
// not read and may be an empty vector. first_step initialises the buffers
// from the gradient (PyTorch's "buffer is None" case); their old contents
// are ignored. Floating dtypes on the CPU, f32 on CUDA.
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdConfig& config, bool first_step);

// Backends: arguments already validated; momentum_buffers is empty or
// matches params.
namespace cpu {
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdConfig& config, bool first_step);
}
namespace cuda {
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdConfig& config, bool first_step);
}

}  // namespace engram
