#include <catch2/catch.hpp>

#include <cmath>

#include "optim/optimizer.h"
#include "optim/schedule.h"

using namespace engram;

namespace {
Tensor param(std::vector<double> v) {
  return Tensor::from_vector<double>(v, {static_cast<int64_t>(v.size())}).requires_grad_();
}
void set_grad(Tensor& p, std::vector<double> g) {
  p.set_grad(Tensor::from_vector<double>(g, {static_cast<int64_t>(g.size())}));
}
}  // namespace

TEST_CASE("SGD with momentum and weight decay follows PyTorch's recurrence", "[optim]") {
  Tensor p = param({1.0, -2.0});
  SgdConfig config;
  config.lr = 0.1, config.momentum = 0.9, config.weight_decay = 0.01;
  optim::SGD sgd({p}, config);
  // Step 1: d = g + wd p; buf = d; p -= lr buf.
  set_grad(p, {0.5, 0.5});
  sgd.step();
  double d0 = 0.5 + 0.01 * 1.0, d1 = 0.5 + 0.01 * -2.0;
  double p0 = 1.0 - 0.1 * d0, p1 = -2.0 - 0.1 * d1;
  CHECK(p.to_vector<double>()[0] == Approx(p0).epsilon(1e-12));
  CHECK(p.to_vector<double>()[1] == Approx(p1).epsilon(1e-12));
  // Step 2: buf = 0.9 buf + d.
  set_grad(p, {-1.0, 2.0});
  sgd.step();
  double b0 = 0.9 * d0 + (-1.0 + 0.01 * p0), b1 = 0.9 * d1 + (2.0 + 0.01 * p1);
  CHECK(p.to_vector<double>()[0] == Approx(p0 - 0.1 * b0).epsilon(1e-12));
  CHECK(p.to_vector<double>()[1] == Approx(p1 - 0.1 * b1).epsilon(1e-12));
  CHECK(sgd.steps_taken() == 2);
}

TEST_CASE("SGD skips parameters without gradients and restores its state", "[optim]") {
  Tensor a = param({1.0}), b = param({1.0});
  SgdConfig nesterov;
  nesterov.lr = 0.5, nesterov.momentum = 0.9, nesterov.nesterov = true;
  optim::SGD sgd({a, b}, nesterov);
  set_grad(a, {1.0});
  sgd.step();
  CHECK(b.to_vector<double>()[0] == 1.0);
  CHECK(a.to_vector<double>()[0] == Approx(1.0 - 0.5 * (1.0 + 0.9 * 1.0)));  // Nesterov: d + m * buf

  // A twin restored from the state continues exactly as the original.
  Tensor a2 = param(a.to_vector<double>()), b2 = param({1.0});
  optim::SGD restored({a2, b2}, nesterov);
  restored.load_state(sgd.state());
  CHECK(restored.steps_taken() == 1);
  set_grad(a, {2.0});
  set_grad(a2, {2.0});
  sgd.step();
  restored.step();
  CHECK(a2.to_vector<double>() == a.to_vector<double>());
  SgdConfig nesterov_without_momentum;
  nesterov_without_momentum.lr = 0.1, nesterov_without_momentum.nesterov = true;
  CHECK_THROWS_AS(optim::SGD({a}, nesterov_without_momentum), ValueError);
}

TEST_CASE("AdamW's first step moves each weight by about lr", "[optim]") {
  Tensor p = param({1.0, -1.0});
  AdamWConfig config;
  config.lr = 0.01, config.weight_decay = 0.1;  // betas 0.9, 0.999 and eps 1e-8: PyTorch's defaults
  optim::AdamW adam({p}, config);
  set_grad(p, {3.0, -0.2});
  adam.step();
  // After one step m_hat = g and v_hat = g^2, so the update is lr * sign(g) after decay.
  CHECK(p.to_vector<double>()[0] == Approx(1.0 * (1 - 0.01 * 0.1) - 0.01).epsilon(1e-9));
  CHECK(p.to_vector<double>()[1] == Approx(-1.0 * (1 - 0.01 * 0.1) + 0.01).epsilon(1e-9));
  CHECK(adam.state().size() == 3);
}

TEST_CASE("learning-rate schedules", "[optim]") {
  auto constant = optim::constant_lr(0.1);
  CHECK(constant->lr_at(37) == 0.1);
  auto steps = optim::multistep_lr(0.1, {10, 20}, 0.1);
  CHECK(steps->lr_at(9.99) == Approx(0.1));
  CHECK(steps->lr_at(10) == Approx(0.01));
  CHECK(steps->lr_at(25) == Approx(0.001));
  auto cosine = optim::cosine_lr(0.2, 100);
  CHECK(cosine->lr_at(0) == Approx(0.2));
  CHECK(cosine->lr_at(50) == Approx(0.1));
  CHECK(cosine->lr_at(100) == Approx(0.0).margin(1e-12));
  auto warm = optim::with_warmup(optim::cosine_lr(0.2, 100), 5, 0.1);
  CHECK(warm->lr_at(0) == Approx(0.02));
  CHECK(warm->lr_at(2.5) == Approx(0.11));
  CHECK(warm->lr_at(5) == Approx(0.2));
  CHECK(warm->lr_at(55) == Approx(0.1));
  CHECK_THROWS_AS(optim::multistep_lr(0.1, {20, 10}, 0.1), ValueError);
  CHECK_THROWS_AS(optim::cosine_lr(0.1, 0), ValueError);
}
