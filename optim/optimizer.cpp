#include "optim/optimizer.h"

#include <cmath>
#include <map>

#include "core/autograd.h"
#include "core/finite.h"

namespace engram::optim {

namespace {

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(t.shape(), t.dtype(), t.device()); }

std::map<std::string, Tensor> by_name(const NamedTensors& state) {
  return std::map<std::string, Tensor>(state.begin(), state.end());
}

Tensor step_tensor(int64_t steps) { return Tensor::scalar(static_cast<double>(steps), DType::f64); }

int64_t read_steps(const std::map<std::string, Tensor>& state, const char* op) {
  auto it = state.find("step");
  ENGRAM_CHECK(it != state.end(), ValueError, op, "optimizer state has no \"step\" entry");
  ENGRAM_CHECK(it->second.numel() == 1, ShapeError, op,
               "optimizer state \"step\" must hold one value, got shape " + shape_str(it->second.shape()));
  const double steps = it->second.to(DType::f64).item<double>();
  // A count: a whole number that an int64 holds exactly (the check is false for NaN).
  ENGRAM_CHECK(steps >= 0 && steps <= 9007199254740992.0 && steps == std::floor(steps), ValueError, op,
               "optimizer state \"step\" must be a whole number in [0, 2^53], got " + message_number(steps));
  return static_cast<int64_t>(steps);
}

// Copies state[name] into `slot` (allocating it like `param` if needed).
void load_buffer(const std::map<std::string, Tensor>& state, const std::string& name, const Tensor& param,
                 Tensor& slot, const char* op) {
  auto it = state.find(name);
  ENGRAM_CHECK(it != state.end(), ValueError, op, "optimizer state has no \"" + name + "\" entry");
  ENGRAM_CHECK(it->second.shape() == param.shape(), ShapeError, op,
               name + " has shape " + shape_str(it->second.shape()) + ", its parameter " + shape_str(param.shape()));
  if (!slot.defined()) slot = zeros_like(param);
  slot.copy_(it->second.to(param.dtype()));
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i)
    ENGRAM_CHECK(params_[i].defined() && params_[i].is_leaf() && params_[i].requires_grad(), ValueError,
                 "Optimizer", "parameter " + std::to_string(i) + " must be a leaf tensor that requires grad");
}

void Optimizer::check_gradients(const std::vector<Tensor>& grads) {
  if (grads.empty()) return;
  if (!nonfinite_.defined()) nonfinite_ = Tensor::zeros({1}, DType::i32, grads.front().device());
  flag_nonfinite(grads, nonfinite_, kNonfiniteGradient);
}

void Optimizer::check_parameters(const std::vector<Tensor>& params) {
  if (!params.empty()) flag_nonfinite(params, nonfinite_, kNonfiniteParameter);
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

SGD::SGD(std::vector<Tensor> params, SgdConfig config) : Optimizer(std::move(params)), config_(config) {
  ENGRAM_CHECK(config.lr >= 0 && config.momentum >= 0 && config.weight_decay >= 0, ValueError, "SGD",
               "expected lr, momentum and weight_decay >= 0");
  ENGRAM_CHECK(!config.nesterov || (config.momentum > 0 && config.dampening == 0), ValueError, "SGD",
               "Nesterov momentum requires momentum > 0 and dampening 0");
  momentum_.resize(params_.size());
}

void SGD::step() {
  NoGradGuard no_grad;
  std::vector<Tensor> params, grads, buffers;
  bool first_step = steps_ == 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    if (config_.momentum > 0 && !momentum_[i].defined()) momentum_[i] = zeros_like(params_[i]);
    params.push_back(params_[i]);
    grads.push_back(params_[i].grad());
    buffers.push_back(momentum_[i]);
  }
  check_gradients(grads);
  if (!params.empty()) sgd_step(params, grads, config_.momentum > 0 ? buffers : std::vector<Tensor>(), config_, first_step);
  check_parameters(params);
  ++steps_;
}

NamedTensors SGD::state() const {
  NamedTensors out{{"step", step_tensor(steps_)}};
  for (size_t i = 0; i < momentum_.size(); ++i)
    if (momentum_[i].defined()) out.emplace_back(std::to_string(i) + ".momentum_buffer", momentum_[i]);
  return out;
}

void SGD::load_state(const NamedTensors& state) {
  auto named = by_name(state);
  steps_ = read_steps(named, "SGD::load_state");
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string name = std::to_string(i) + ".momentum_buffer";
    if (named.count(name)) load_buffer(named, name, params_[i], momentum_[i], "SGD::load_state");
  }
}

AdamW::AdamW(std::vector<Tensor> params, AdamWConfig config) : Optimizer(std::move(params)), config_(config) {
  exp_avg_.resize(params_.size());
  exp_avg_sq_.resize(params_.size());
}

void AdamW::step() {
  NoGradGuard no_grad;
  std::vector<Tensor> params, grads, m, v;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = zeros_like(params_[i]);
      exp_avg_sq_[i] = zeros_like(params_[i]);
    }
    params.push_back(params_[i]);
    grads.push_back(params_[i].grad());
    m.push_back(exp_avg_[i]);
    v.push_back(exp_avg_sq_[i]);
  }
  ++steps_;
  check_gradients(grads);
  adamw_step(params, grads, m, v, config_, steps_);
  check_parameters(params);
}

NamedTensors AdamW::state() const {
  NamedTensors out{{"step", step_tensor(steps_)}};
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    out.emplace_back(std::to_string(i) + ".exp_avg", exp_avg_[i]);
    out.emplace_back(std::to_string(i) + ".exp_avg_sq", exp_avg_sq_[i]);
  }
  return out;
}

void AdamW::load_state(const NamedTensors& state) {
  auto named = by_name(state);
  steps_ = read_steps(named, "AdamW::load_state");
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string prefix = std::to_string(i) + ".";
    if (!named.count(prefix + "exp_avg")) continue;
    load_buffer(named, prefix + "exp_avg", params_[i], exp_avg_[i], "AdamW::load_state");
    load_buffer(named, prefix + "exp_avg_sq", params_[i], exp_avg_sq_[i], "AdamW::load_state");
  }
}

}  // namespace engram::optim
