#pragma once
// The small training run that the resume tests (tests/cpu/test_resume.cpp,
// tests/cuda/test_resume.cpp) interrupt and resume: a ResNet with stages
// 8-16-32 and one BasicBlock each (projection shortcuts in stages 2 and 3,
// every layer kind of the zoo's ResNets), SGD with momentum and weight decay
// under a cosine schedule with warm-up, so that the lr differs at every step.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "train/baseline.h"
#include "train/run.h"

namespace engram::testing {

// An empty folder under the system's temporary directory, unique to this process.
inline std::string fresh_run_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("engram_test_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// Two epochs of subset / batch steps on the first `subset` Fashion-MNIST images.
inline train::TrainConfig resume_config(DeviceRequest device, const std::string& out_dir, int64_t subset,
                                        int64_t batch, int64_t test_subset) {
  train::TrainConfig config;
  config.dataset = "fashion-mnist";
  config.subset = subset;
  config.test_subset = test_subset;
  config.eval_batch = test_subset;
  config.epochs = 2;
  config.batch = batch;
  config.lr = 0.05;
  config.warmup_epochs = 0.5;
  config.seed = 7;
  config.device = device;
  config.out_dir = out_dir;
  return config;
}

struct RecordedRun {
  std::vector<std::vector<float>> step_losses;  // per epoch trained by this call
  train::RunResult summary;
};

// `on_step`, if given, sees every step (it may call train::request_stop).
inline RecordedRun run_recorded(const train::TrainConfig& config, int64_t stop_after_epoch = 0,
                                std::function<void(const train::StepEvent&)> on_step = {}) {
  RecordedRun recorded;
  train::BaselineStrategy strategy("tiny-resnet", 0, [](int64_t in_channels, int64_t num_classes) {
    return std::make_shared<nn::ResNet>(nn::ResNet::Block::basic, std::vector<int64_t>{1, 1, 1},
                                        std::vector<int64_t>{8, 16, 32}, in_channels, num_classes);
  });
  train::RunHooks hooks;
  hooks.stop_after_epoch = stop_after_epoch;
  hooks.on_step = std::move(on_step);
  hooks.log = nullptr;
  recorded.summary = train::run(config, strategy, hooks);
  // The run's step losses, split into its epochs.
  const std::vector<float>& losses = recorded.summary.student_step_losses;
  const size_t epochs = recorded.summary.history.size() - static_cast<size_t>(recorded.summary.first_epoch);
  for (size_t e = 0; e < epochs; ++e) {
    const size_t per_epoch = losses.size() / epochs;
    recorded.step_losses.emplace_back(losses.begin() + static_cast<std::ptrdiff_t>(e * per_epoch),
                                      losses.begin() + static_cast<std::ptrdiff_t>((e + 1) * per_epoch));
  }
  return recorded;
}

}  // namespace engram::testing
