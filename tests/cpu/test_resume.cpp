// Resuming the run loop (train/run.h) with plain training from its
// checkpoint: a run interrupted after epoch 1 and resumed from last.safetensors
// repeats the uninterrupted run's epoch-2 step losses bitwise on the CPU, and
// ends with bitwise-identical weights, BN buffers and optimizer state.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "tests/support/checks.h"
#include "tests/support/resume_run.h"
#include "train/interrupt.h"

using namespace engram;
using namespace engram::train;

using engram::testing::message_of;

namespace {

using engram::testing::fresh_run_dir;
using engram::testing::RecordedRun;
using engram::testing::run_recorded;

// 256 Fashion-MNIST images, 2 epochs of 8 steps.
TrainConfig tiny_config(const std::string& out_dir) {
  return engram::testing::resume_config(DeviceRequest::cpu, out_dir, 256, 32, 128);
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

int64_t count_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// The two checkpoints hold the same entries with the same bytes; also
// checks that the entries include the optimizer's momentum and BN buffers.
void check_same_tensors(const std::string& path_a, const std::string& path_b) {
  nn::SafetensorsFile a = nn::load_safetensors(path_a);
  nn::SafetensorsFile b = nn::load_safetensors(path_b);
  REQUIRE(a.tensors.size() == b.tensors.size());
  std::map<std::string, Tensor> by_name(b.tensors.begin(), b.tensors.end());
  bool has_momentum = false, has_running_mean = false;
  for (const auto& [name, tensor] : a.tensors) {
    INFO(name);
    REQUIRE(by_name.count(name) == 1);
    const Tensor& other = by_name[name];
    REQUIRE(other.shape() == tensor.shape());
    REQUIRE(other.dtype() == tensor.dtype());
    CHECK(std::memcmp(other.raw_data(), tensor.raw_data(), tensor.nbytes()) == 0);
    has_momentum |= name.find("momentum_buffer") != std::string::npos;
    has_running_mean |= name.find("running_mean") != std::string::npos;
  }
  CHECK(has_momentum);
  CHECK(has_running_mean);
}

}  // namespace

TEST_CASE("a run resumed after epoch 1 repeats the uninterrupted run bitwise", "[train][resume]") {
  std::string full_dir = fresh_run_dir("resume_full"), split_dir = fresh_run_dir("resume_split");
  RecordedRun full = run_recorded(tiny_config(full_dir));
  REQUIRE(full.step_losses.size() == 2);
  REQUIRE(full.step_losses[0].size() == 8);
  // The test is meaningless if the loss did not move.
  CHECK(full.step_losses[1].back() < full.step_losses[0].front());

  RecordedRun first = run_recorded(tiny_config(split_dir), /*stop_after_epoch=*/1);
  REQUIRE(first.step_losses.size() == 1);
  CHECK(bitwise_equal(first.step_losses[0], full.step_losses[0]));
  REQUIRE(std::filesystem::exists(split_dir + "/last.safetensors"));
  CHECK(count_lines(split_dir + "/metrics.csv") == 2);

  TrainConfig resumed_config = tiny_config(split_dir);
  resumed_config.resume = split_dir + "/last.safetensors";
  RecordedRun resumed = run_recorded(resumed_config);
  CHECK(resumed.summary.first_epoch == 1);
  REQUIRE(resumed.step_losses.size() == 1);
  for (size_t step = 0; step < full.step_losses[1].size(); ++step) {
    INFO("epoch 2, step " << step);
    CHECK(resumed.step_losses[0].at(step) == full.step_losses[1][step]);
  }
  CHECK(bitwise_equal(resumed.step_losses[0], full.step_losses[1]));

  // The metrics history was restored: epoch 1 from the checkpoint, epoch 2 new.
  REQUIRE(resumed.summary.history.size() == 2);
  CHECK(resumed.summary.history[0].student.train_loss == full.summary.history[0].student.train_loss);
  CHECK(resumed.summary.history[1].student.test_accuracy == full.summary.history[1].student.test_accuracy);
  CHECK(resumed.summary.history[1].student.test_loss == full.summary.history[1].student.test_loss);
  CHECK(count_lines(split_dir + "/metrics.csv") == 3);

  // Final checkpoints: the same entries (model, BN buffers, optimizer), the same bytes.
  check_same_tensors(full_dir + "/last.safetensors", split_dir + "/last.safetensors");

  // Resuming with a different batch size or seed is refused, naming the field.
  TrainConfig other = resumed_config;
  other.batch = 16;
  CHECK_THAT(message_of<ValueError>([&] { run_recorded(other); }), Catch::Matchers::StartsWith("train: resume") &&
                                                              Catch::Matchers::Contains("with batch 32") &&
                                                              Catch::Matchers::Contains("this run has 16"));
  other = resumed_config;
  other.seed = 8;
  CHECK_THAT(message_of<ValueError>([&] { run_recorded(other); }), Catch::Matchers::Contains("with seed 7"));
  other.batch = 16;  // every field that differs is named
  CHECK_THAT(message_of<ValueError>([&] { run_recorded(other); }),
             Catch::Matchers::Contains("batch 32, this run has 16; seed 7, this run has 8"));

  // A checkpoint that already holds every epoch trains nothing more.
  RecordedRun again = run_recorded(resumed_config);
  CHECK(again.step_losses.empty());
  CHECK(again.summary.history.size() == 2);

  std::filesystem::remove_all(full_dir);
  std::filesystem::remove_all(split_dir);
}

TEST_CASE("resuming from a missing checkpoint is an IOError naming the file", "[train][resume]") {
  TrainConfig config = tiny_config(fresh_run_dir("resume_missing"));
  config.resume = config.out_dir + "/no-such.safetensors";
  CHECK_THAT(message_of<IOError>([&] { run_recorded(config); }), Catch::Matchers::Contains("no-such.safetensors"));
  std::filesystem::remove_all(config.out_dir);
}

TEST_CASE("a run stopped at a step boundary (Ctrl-C) resumes inside the epoch, bitwise", "[train][resume][interrupt]") {
  std::string full_dir = fresh_run_dir("stop_full"), split_dir = fresh_run_dir("stop_split");
  RecordedRun full = run_recorded(tiny_config(full_dir));

  int64_t steps = 0;
  RecordedRun first = run_recorded(tiny_config(split_dir), 0, [&](const StepEvent&) {
    if (++steps == 11) request_stop();  // during epoch 2's third step: it stops before the fourth
  });
  CHECK(first.summary.interrupted);
  CHECK_FALSE(stop_requested());  // the loop took the request
  REQUIRE(first.summary.history.size() == 1);
  REQUIRE(first.summary.checkpoint == split_dir + "/last.safetensors");
  nlohmann::json state =
      nlohmann::json::parse(nn::load_safetensors(first.summary.checkpoint).metadata.at("engram"));
  CHECK(state.at("epoch") == 1);
  CHECK(state.at("step") == 3);
  CHECK(state.at("records").at("student").at("losses").size() == 3);

  TrainConfig resumed_config = tiny_config(split_dir);
  resumed_config.resume = first.summary.checkpoint;
  RecordedRun rest = run_recorded(resumed_config);
  CHECK_FALSE(rest.summary.interrupted);
  std::vector<float> losses = first.summary.student_step_losses;
  losses.insert(losses.end(), rest.summary.student_step_losses.begin(), rest.summary.student_step_losses.end());
  CHECK(bitwise_equal(losses, full.summary.student_step_losses));
  REQUIRE(rest.summary.history.size() == 2);
  CHECK(rest.summary.history[1].student.train_loss == full.summary.history[1].student.train_loss);
  CHECK(rest.summary.history[1].student.train_accuracy == full.summary.history[1].student.train_accuracy);
  CHECK(rest.summary.history[1].student.test_accuracy == full.summary.history[1].student.test_accuracy);
  check_same_tensors(full_dir + "/last.safetensors", split_dir + "/last.safetensors");
  std::filesystem::remove_all(full_dir);
  std::filesystem::remove_all(split_dir);
}
