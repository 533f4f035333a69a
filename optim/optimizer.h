#pragma once
// Optimizers over a fixed list of parameters, as torch.optim: step() reads
// each parameter's .grad() and updates it in place (no graph is recorded);
// parameters whose gradient is undefined are skipped. On CUDA, SGD runs as
// multi-tensor launches, up to 32 tensors each (kernels/sgd.h).
#include <memory>
#include <string>
#include <vector>

#include "core/named_tensors.h"
#include "kernels/adamw.h"
#include "kernels/sgd.h"

namespace engram::optim {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
  int64_t steps_taken() const { return steps_; }
  // What step() has seen since the optimizer was built, as bits of an i32
  // tensor of one element on the parameters' device, set without waiting for
  // the device: a gradient that held NaN or Inf, a parameter that did after
  // its update. Undefined before the first step.
  static constexpr int32_t kNonfiniteGradient = 1, kNonfiniteParameter = 2;
  const Tensor& nonfinite() const { return nonfinite_; }
  // Per-parameter state (momentum or moment buffers) by name, e.g. "0.momentum_buffer",
  // plus "step"; what a checkpoint stores.
  virtual NamedTensors state() const = 0;
  virtual void load_state(const NamedTensors& state) = 0;

 protected:
  // Marks non-finite gradients before, and parameters after, an update.
  void check_gradients(const std::vector<Tensor>& grads);
  void check_parameters(const std::vector<Tensor>& params);

  std::vector<Tensor> params_;
  int64_t steps_ = 0;

 private:
  Tensor nonfinite_;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SgdConfig config);
  void step() override;
  double lr() const override { return config_.lr; }
  void set_lr(double lr) override { config_.lr = lr; }
  const SgdConfig& config() const { return config_; }
  NamedTensors state() const override;
  void load_state(const NamedTensors& state) override;

 private:
  SgdConfig config_;
  std::vector<Tensor> momentum_;  // allocated on the first step, as PyTorch
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, AdamWConfig config);
  void step() override;
  double lr() const override { return config_.lr; }
  void set_lr(double lr) override { config_.lr = lr; }
  NamedTensors state() const override;
  void load_state(const NamedTensors& state) override;

 private:
  AdamWConfig config_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

}  // namespace engram::optim
