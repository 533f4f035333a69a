#include <catch2/catch.hpp>

#include "core/autograd.h"
#include "kernels/batchnorm.h"
#include "kernels/dispatch.h"
#include "tests/cases/batchnorm.h"
#include "tests/support/backend_guard.h"
#include "tests/support/checks.h"

using namespace engram;

// The parity of outputs and gradients over the case table runs in
// tests/ops/test_op_parity.cpp; this program adds the running statistics.

namespace {

// Runs a case twice (two training steps) on the CPU in f32 and on CUDA with
// the same inputs, then compares the inputs that do not require grad: the
// running statistics the op updates in place.
testing::CheckResult running_stat_parity(const testing::OpCase& op_case) {
  testing::CheckResult result;
  Generator gen(1234);
  std::vector<Tensor> cpu_inputs = op_case.make_inputs(DType::f32, gen);
  std::vector<Tensor> gpu_inputs;
  for (const Tensor& t : cpu_inputs) gpu_inputs.push_back(t.detach().to(Device::cuda()));
  {
    NoGradGuard no_grad;
    for (int step = 0; step < 2; ++step) {
      op_case.run(cpu_inputs);
      op_case.run(gpu_inputs);
    }
  }
  result.report = op_case.name + ": running statistics";
  for (size_t k = 0; k < cpu_inputs.size(); ++k) {
    if (cpu_inputs[k].requires_grad()) continue;
    double err = testing::normalised_error(gpu_inputs[k], cpu_inputs[k], 1e-5, 1e-5);
    result.worst = std::max(result.worst, err);
    result.report += "\n  input " + std::to_string(k) + ": normalised error " + std::to_string(err);
    if (err > 1.0) result.ok = false;
  }
  return result;
}

void check_backend(Backend b) {
  testing::BackendGuard guard(OpFamily::batchnorm, b);
  for (const auto& op_case : testing::batchnorm_cases()) {
    // A channel holding +Inf has mean +Inf on the CPU (two passes) but may get
    // NaN on CUDA (Welford's updates subtract Inf from Inf): the running
    // statistics may differ, though either makes the channel's outputs NaN.
    // The parity of outputs and gradients covers these cases.
    if (op_case.non_finite_inputs) continue;
    auto stats = testing::without_throwing(op_case.name, [&] { return running_stat_parity(op_case); });
    INFO(backend_name(b) << " " << stats.report);
    CHECK(stats.ok);
  }
}

}  // namespace

TEST_CASE("batch norm: native CUDA updates the running statistics like the CPU reference", "[batchnorm][cuda]") {
  check_backend(Backend::native);
}

TEST_CASE("batch norm: cuDNN updates the running statistics like the CPU reference", "[batchnorm][cuda][vendor]") {
  if (!vendor_available(OpFamily::batchnorm)) {
    WARN("cuDNN is not built in: vendor batch norm not checked");
    return;
  }
  check_backend(Backend::vendor);
}

TEST_CASE("batch norm on CUDA is deterministic run to run", "[batchnorm][cuda]") {
  Generator gen(99);
  Tensor x = random::normal({64, 4, 28, 28}, 0.5, 2.0, gen, DType::f32, Device::cuda());
  Tensor weight = random::uniform({4}, 0.5, 1.5, gen, DType::f32, Device::cuda());
  Tensor bias = random::normal({4}, 0.0, 0.5, gen, DType::f32, Device::cuda());
  Tensor grad_y = random::normal(x.shape(), 0.0, 1.0, gen, DType::f32, Device::cuda());
  auto run = [&] {
    Tensor xg = x.clone().requires_grad_(), wg = weight.clone().requires_grad_(), bg = bias.clone().requires_grad_();
    Tensor rm = Tensor::zeros({4}, DType::f32, Device::cuda()), rv = Tensor::ones({4}, DType::f32, Device::cuda());
    Tensor y = batch_norm2d_relu(xg, wg, bg, rm, rv, true);
    y.backward(grad_y);
    return std::vector<std::vector<float>>{y.to_vector<float>(),         xg.grad().to_vector<float>(),
                                           wg.grad().to_vector<float>(), bg.grad().to_vector<float>(),
                                           rm.to_vector<float>(),        rv.to_vector<float>()};
  };
  CHECK(run() == run());
}

TEST_CASE("batch norm on CUDA rejects f64 and mixed devices", "[batchnorm][cuda][errors]") {
  Tensor x = Tensor::zeros({2, 3, 4, 4}, DType::f32, Device::cuda());
  Tensor c3 = Tensor::ones({3}, DType::f32, Device::cuda());
  CHECK_THROWS_AS(batch_norm2d(x, Tensor::ones({3}), c3, c3, c3, true), DeviceError);
  CHECK_THROWS_WITH(batch_norm2d(x, c3, c3, Tensor::zeros({3}), c3, true), Catch::StartsWith("batch_norm2d:"));
  CHECK_THROWS_AS(batch_norm2d_add_relu(x, Tensor::zeros({2, 3, 4, 4}), c3, c3, c3, c3, true), DeviceError);
  Tensor c3d = Tensor::ones({3}, DType::f64, Device::cuda());
  CHECK_THROWS_AS(batch_norm2d(Tensor::zeros({2, 3, 4, 4}, DType::f64, Device::cuda()), c3d, c3d, c3d, c3d, true),
                  DTypeError);
}
