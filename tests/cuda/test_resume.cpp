// Resuming a CUDA training run (train/run.h, plain training): interrupted after epoch 1
// and resumed from last.safetensors, it repeats the uninterrupted run's
// epoch-2 step losses bitwise and ends with the same checkpoint bytes. The
// CUDA kernels are deterministic, so bitwise is the claim.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <map>

#include "nn/safetensors.h"
#include "tests/support/resume_run.h"

using namespace engram;
using namespace engram::train;

namespace {

// 64 images, 2 epochs of 4 steps: small, because on the host runtime every kernel runs on the CPU.
TrainConfig small_config(const std::string& out_dir) { return testing::resume_config(DeviceRequest::cuda, out_dir, 64, 16, 32); }

std::vector<std::vector<float>> run(const TrainConfig& config, int64_t stop_after_epoch = 0) {
  return testing::run_recorded(config, stop_after_epoch).step_losses;
}

}  // namespace

TEST_CASE("on CUDA a run resumed after epoch 1 repeats the uninterrupted run bitwise", "[train][resume][cuda]") {
  std::string full_dir = testing::fresh_run_dir("cuda_resume_full"),
              split_dir = testing::fresh_run_dir("cuda_resume_split");
  std::vector<std::vector<float>> full = run(small_config(full_dir));
  REQUIRE(full.size() == 2);
  REQUIRE(full[1].size() == 4);

  std::vector<std::vector<float>> first = run(small_config(split_dir), /*stop_after_epoch=*/1);
  REQUIRE(first.size() == 1);
  CHECK(first[0] == full[0]);

  TrainConfig resumed_config = small_config(split_dir);
  resumed_config.resume = split_dir + "/last.safetensors";
  std::vector<std::vector<float>> resumed = run(resumed_config);
  REQUIRE(resumed.size() == 1);
  for (size_t step = 0; step < full[1].size(); ++step) {
    INFO("epoch 2, step " << step);
    CHECK(std::memcmp(&resumed[0].at(step), &full[1][step], sizeof(float)) == 0);
  }

  // Model, BN buffers and optimizer state: the same entries, the same bytes.
  nn::SafetensorsFile a = nn::load_safetensors(full_dir + "/last.safetensors");
  nn::SafetensorsFile b = nn::load_safetensors(split_dir + "/last.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  std::map<std::string, Tensor> by_name(b.tensors.begin(), b.tensors.end());
  for (const auto& [name, tensor] : a.tensors) {
    INFO(name);
    REQUIRE(by_name.count(name) == 1);
    REQUIRE(by_name[name].nbytes() == tensor.nbytes());
    CHECK(std::memcmp(by_name[name].raw_data(), tensor.raw_data(), tensor.nbytes()) == 0);
  }
  std::filesystem::remove_all(full_dir);
  std::filesystem::remove_all(split_dir);
}
