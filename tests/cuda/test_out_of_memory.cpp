// A GPU that runs out of memory in the middle of a training run. The host
// runtime fails the Nth allocation, as a full GPU would (ENGRAM_CUDA=HOST
// only; a GPU build leaves this program out): the run stops with an
// OutOfMemoryError that gives the size asked for, the pool's use and the step
// that asked, the previous epoch's checkpoint is intact, and the same
// process can still train and write checkpoints: resumed from it, the run
// ends as the uninterrupted one does, bitwise.
#include <catch2/catch.hpp>

#include "core/cuda/host/api.h"
#include "tests/support/resume_run.h"

using namespace engram;
using Catch::Matchers::Contains;

TEST_CASE("out of memory in a CUDA training step names the size, the pool and the step; the run resumes",
          "[cuda][oom]") {
  // 2 epochs of 4 steps.
  const std::string whole_dir = testing::fresh_run_dir("oom_whole");
  train::TrainConfig config = testing::resume_config(DeviceRequest::cuda, whole_dir, 32, 8, 16);
  const testing::RecordedRun whole = testing::run_recorded(config);
  REQUIRE(whole.step_losses.size() == 2);

  config.out_dir = testing::fresh_run_dir("oom_faulty");
  int64_t steps = 0;
  std::string message;
  try {
    // In epoch 2's third step, its third allocation fails.
    testing::run_recorded(config, 0, [&](const train::StepEvent&) {
      if (++steps == 6) cuda::host::fail_allocation_after(3);
    });
  } catch (const OutOfMemoryError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK_THAT(message, Contains("cuda: out of memory allocating ") && Contains(" MiB (engram's pool holds ") &&
                          Contains("tiny-resnet") && Contains("at step 3 of epoch 2 with batch 8") &&
                          Contains("the checkpoint of the previous epoch is kept"));
  CHECK(steps == 6);

  config.resume = config.out_dir + "/last.safetensors";
  const testing::RecordedRun rest = testing::run_recorded(config);
  REQUIRE(rest.step_losses.size() == 1);
  CHECK(rest.step_losses[0] == whole.step_losses[1]);
  CHECK(rest.summary.history.back().student.test_accuracy == whole.summary.history.back().student.test_accuracy);
  CHECK(rest.summary.history.back().student.test_loss == whole.summary.history.back().student.test_loss);
  std::filesystem::remove_all(whole_dir);
  std::filesystem::remove_all(config.out_dir);
}
