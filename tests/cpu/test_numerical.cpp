// Numerical faults: the device-side NaN/Inf check, the run's NumericalError
// naming where the first non-finite value appeared (loss, gradient or
// parameter), and --detect-anomaly. tests/cuda/test_numerical.cpp runs the
// same on CUDA.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "nn/safetensors.h"
#include "tests/support/checks.h"
#include "tests/support/nonfinite_cases.h"
#include "tests/support/numerical_runs.h"

using namespace engram;
using namespace engram::train;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using engram::testing::message_of;
using engram::testing::poisoned_at;
using engram::testing::quiet;

namespace {
TrainConfig small_config() { return testing::small_config(DeviceRequest::cpu); }
}  // namespace

TEST_CASE("flag_nonfinite finds NaN and Inf anywhere in any of its tensors, on the CPU", "[numerical][finite]") {
  testing::check_flag_nonfinite<float>(Device::cpu());
  testing::check_flag_nonfinite<double>(Device::cpu());
  Tensor wrong = Tensor::zeros({1}, DType::f32);
  CHECK_THAT(message_of<ValueError>([&] { flag_nonfinite({wrong}, wrong, 1); }),
             StartsWith("flag_nonfinite: flags must be an i32 tensor of one element, got f32 [1]"));
}

TEST_CASE("a loss that becomes NaN stops the run naming model, epoch and step; the last checkpoint stays",
          "[train][numerical]") {
  TrainConfig config = small_config();
  config.epochs = 3;
  config.out_dir =
      (std::filesystem::temp_directory_path() / ("engram_test_numerical_" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(config.out_dir);
  BaselineStrategy strategy("resnet8");
  RunHooks hooks = quiet();
  // After epoch 1, a weight becomes NaN: every loss of epoch 2 is NaN.
  hooks.on_epoch_end = [&](const EpochMetrics& m) {
    if (m.epoch != 1) return;
    Tensor weight = strategy.model().parameters().front();
    weight.data<float>()[0] = NAN;
  };
  std::string message = message_of<NumericalError>([&] { run(config, strategy, hooks); });
  CHECK_THAT(message, StartsWith("train: the student's training loss became") &&
                          Contains("nan at its step 1 of 4 in epoch 2 (on batch 0 of epoch 2; try a lower lr)") &&
                          Contains("the checkpoint of the previous epoch is kept"));
  // The checkpoint of epoch 1 is still there, whole.
  nn::SafetensorsFile file = nn::load_safetensors(config.out_dir + "/last.safetensors");
  CHECK(nlohmann::json::parse(file.metadata.at("engram")).at("epoch") == 1);
  std::filesystem::remove_all(config.out_dir);
}

TEST_CASE("a gradient that becomes NaN under a finite loss is named as the first fault", "[train][numerical]") {
  BaselineStrategy strategy = poisoned_at(3);
  std::string message = message_of<NumericalError>([&] { run(small_config(), strategy, quiet()); });
  CHECK_THAT(message, StartsWith("train: the student's gradients held NaN or Inf (the loss was ") &&
                          Contains(") at its step 3 of 4 in epoch 1 (on batch 2 of epoch 1; try a lower lr)"));
}

TEST_CASE("a parameter that overflows in the update under finite gradients is named as the first fault",
          "[train][numerical]") {
  TrainConfig config = small_config();
  config.lr = 1e300;  // inf in f32: every update overflows
  config.schedule = ScheduleKind::constant;
  BaselineStrategy strategy("resnet8");
  std::string message = message_of<NumericalError>([&] { run(config, strategy, quiet()); });
  CHECK_THAT(message, StartsWith("train: the student's parameters held NaN or Inf after the update (loss ") &&
                          Contains("gradients finite; the lr times the gradient overflowed) at its step 1 of 4"));
}

TEST_CASE("--detect-anomaly stops at the op that made the first NaN, and changes no result", "[train][numerical]") {
  TrainConfig config = small_config();
  config.detect_anomaly = true;
  BaselineStrategy poisoned = poisoned_at(2);
  CHECK_THAT(message_of<NumericalError>([&] { run(config, poisoned, quiet()); }),
             StartsWith("detect_anomaly: backward of 'poison_gradient', from a finite output gradient: the gradient "
                        "of its input 0 [16, 10] holds NaN or Inf; in baseline (") &&
                 Contains(") at step 2 of epoch 1; the checkpoint of the previous epoch is kept"));
  CHECK_FALSE(autograd::anomaly_detection());  // the run turned it off again

  config.lr = 1e300, config.schedule = ScheduleKind::constant;
  BaselineStrategy overflowing("resnet8");
  CHECK_THAT(message_of<NumericalError>([&] { run(config, overflowing, quiet()); }),
             StartsWith("detect_anomaly: the student's parameters hold NaN or Inf after its update on batch 0 of "
                        "epoch 1; in baseline ("));

  BaselineStrategy plain("resnet8"), checked("resnet8");
  RunResult without = run(small_config(), plain, quiet());
  config = small_config();
  config.detect_anomaly = true;
  RunResult with = run(config, checked, quiet());
  CHECK(with.student_step_losses == without.student_step_losses);
  CHECK(with.history.back().student.test_loss == without.history.back().student.test_loss);
}

TEST_CASE("anomaly detection names the op whose output first holds NaN or Inf", "[autograd][numerical]") {
  Tensor big = Tensor::from_vector<float>({1e20f, 2}, {2}).requires_grad_(true);
  CHECK(std::isinf(mul(big, big).to_vector<float>()[0]));  // off: no check
  AnomalyDetectionGuard on;
  CHECK_THAT(message_of<NumericalError>([&] { mul(big, big); }),
             Equals("detect_anomaly: the output of 'mul' [2] holds NaN or Inf"));
  {
    AnomalyDetectionGuard off(false);
    CHECK_FALSE(autograd::anomaly_detection());
  }
  CHECK(autograd::anomaly_detection());
}
