#include "kernels/sgd.h"

#include <string>

#include "kernels/dispatch.h"

namespace engram {

namespace {

void check_config(const SgdConfig& c) {
  // Comparisons written so that NaN fails them.
  ENGRAM_CHECK(c.lr >= 0, ValueError, "sgd_step", "lr must be >= 0, got " + std::to_string(c.lr));
  ENGRAM_CHECK(c.momentum >= 0, ValueError, "sgd_step", "momentum must be >= 0, got " + std::to_string(c.momentum));
  ENGRAM_CHECK(c.weight_decay >= 0, ValueError, "sgd_step",
               "weight_decay must be >= 0, got " + std::to_string(c.weight_decay));
  ENGRAM_CHECK(c.dampening == c.dampening, ValueError, "sgd_step", "dampening must be a number, got NaN");
  ENGRAM_CHECK(!c.nesterov || (c.momentum > 0 && c.dampening == 0), ValueError, "sgd_step",
               "nesterov needs momentum > 0 and dampening == 0, got momentum " + std::to_string(c.momentum) +
                   " and dampening " + std::to_string(c.dampening));
}

// `other` (a gradient or a momentum buffer) must match params[k] exactly.
void check_companion(const char* what, size_t k, const Tensor& param, const Tensor& other) {
  std::string name = std::string(what) + "[" + std::to_string(k) + "]";
  ENGRAM_CHECK(other.defined(), ValueError, "sgd_step", name + " is undefined");
  ENGRAM_CHECK(other.shape() == param.shape(), ShapeError, "sgd_step",
               name + " has shape " + shape_str(other.shape()) + ", expected " + shape_str(param.shape()) +
                   " like params[" + std::to_string(k) + "]");
  ENGRAM_CHECK(other.dtype() == param.dtype(), DTypeError, "sgd_step",
               name + " is " + dtype_name(other.dtype()) + ", expected " + dtype_name(param.dtype()) + " like params[" +
                   std::to_string(k) + "]");
  ENGRAM_CHECK(other.device() == param.device(), DeviceError, "sgd_step",
               name + " is on " + other.device().str() + ", expected " + param.device().str() + " like params[" +
                   std::to_string(k) + "]");
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdConfig& config, bool first_step) {
  check_config(config);
  ENGRAM_CHECK(grads.size() == params.size(), ValueError, "sgd_step",
               "expected one gradient per parameter (" + std::to_string(params.size()) + "), got " +
                   std::to_string(grads.size()));
  bool use_momentum = config.momentum != 0;
  ENGRAM_CHECK(!use_momentum || momentum_buffers.size() == params.size(), ValueError, "sgd_step",
               "momentum " + std::to_string(config.momentum) + " needs one buffer per parameter (" +
                   std::to_string(params.size()) + "), got " + std::to_string(momentum_buffers.size()));
  if (params.empty()) return;
  for (size_t k = 0; k < params.size(); ++k) {
    std::string name = "params[" + std::to_string(k) + "]";
    check_floating("sgd_step", name.c_str(), params[k]);
    ENGRAM_CHECK(params[k].device() == params[0].device(), DeviceError, "sgd_step",
                 name + " is on " + params[k].device().str() + ", expected every parameter on " +
                     params[0].device().str() + " like params[0]");
    check_companion("grads", k, params[k], grads[k]);
    if (use_momentum) check_companion("momentum_buffers", k, params[k], momentum_buffers[k]);
  }
  const std::vector<Tensor> no_buffers;
  const std::vector<Tensor>& buffers = use_momentum ? momentum_buffers : no_buffers;
  ENGRAM_DISPATCH(sgd, "sgd_step", params[0], sgd_step, params, grads, buffers, config, first_step);
}

}  // namespace engram
