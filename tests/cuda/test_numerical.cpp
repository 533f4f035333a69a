// Numerical faults on CUDA: flag_nonfinite's kernel finds what the CPU finds,
// without a host sync, and a run names the first non-finite value as on the
// CPU (tests/cpu/test_numerical.cpp).
#include <catch2/catch.hpp>

#include "core/cuda_runtime.h"
#include "tests/support/checks.h"
#include "tests/support/nonfinite_cases.h"
#include "tests/support/numerical_runs.h"

using namespace engram;
using namespace engram::train;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using engram::testing::message_of;
using engram::testing::poisoned_at;
using engram::testing::quiet;

namespace {
TrainConfig small_config() { return testing::small_config(DeviceRequest::cuda); }
}  // namespace

TEST_CASE("flag_nonfinite on CUDA finds NaN and Inf anywhere in any of its tensors", "[cuda][numerical]") {
  testing::check_flag_nonfinite<float>(Device::cuda());
  testing::check_flag_nonfinite<double>(Device::cuda());
  Tensor t = Tensor::full({1000}, NAN, DType::f32, Device::cuda());
  Tensor flags = Tensor::zeros({1}, DType::i32, Device::cuda());
  cuda::Counters before = cuda::counters();
  flag_nonfinite({t, t}, flags, 2);
  CHECK(cuda::counters().host_syncs == before.host_syncs);
  CHECK(testing::flag_bits(flags) == 2);
  CHECK_THROWS_AS(flag_nonfinite({Tensor::zeros({2})}, flags, 1), DeviceError);
}

TEST_CASE("a CUDA run names a NaN gradient and an overflowing update as the first faults", "[cuda][numerical]") {
  BaselineStrategy poisoned = poisoned_at(3);
  CHECK_THAT(message_of<NumericalError>([&] { run(small_config(), poisoned, quiet()); }),
             StartsWith("train: the student's gradients held NaN or Inf (the loss was ") &&
                 Contains(") at its step 3 of 4 in epoch 1 (on batch 2 of epoch 1; try a lower lr)"));
  TrainConfig config = small_config();
  config.lr = 1e300, config.schedule = ScheduleKind::constant;
  BaselineStrategy overflowing("resnet8");
  CHECK_THAT(message_of<NumericalError>([&] { run(config, overflowing, quiet()); }),
             StartsWith("train: the student's parameters held NaN or Inf after the update (loss ") &&
                 Contains("at its step 1 of 4 in epoch 1"));
}
