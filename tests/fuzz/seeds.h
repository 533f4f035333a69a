#pragma once
// What the seed corpus is made of, shared by make_seeds.cpp (which writes
// tests/fuzz/corpus/) and the targets that need the same setting to read it:
// the image cache's fingerprint, the checkpoint's model, and the small
// Spaced KD run whose --resume state fuzz_resume mutates.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "distill/kd_run.h"
#include "kernels/reduce.h"
#include "nn/layers.h"
#include "nn/safetensors.h"
#include "optim/optimizer.h"
#include "tests/support/idx_files.h"
#include "train/checkpoint.h"
#include "train/interrupt.h"

namespace engram::fuzz {

constexpr uint64_t kSeedFingerprint = 0x5EED5EED5EED5EEDull;

// `count` 28x28 images of a few grey levels, and labels 0, 1, ..., 9, 0, ...
inline std::vector<uint8_t> idx_images(uint32_t count) {
  std::vector<uint8_t> pixels(count * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 37 + i / 784 * 11) % 251);
  return testing::idx_bytes({count, 28, 28}, pixels);
}
inline std::vector<uint8_t> idx_labels(uint32_t count) {
  std::vector<uint8_t> labels(count);
  for (uint32_t i = 0; i < count; ++i) labels[i] = static_cast<uint8_t>(i % 10);
  return testing::idx_bytes({count}, labels);
}

// A Fashion-MNIST folder of 16 training and 8 test images.
inline void write_small_fashion_mnist(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  testing::write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(16));
  testing::write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels(16));
  testing::write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_images(8));
  testing::write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(8));
}

// What fuzz_checkpoint loads into: every kind of checkpoint entry (conv and
// linear weights, BN buffers, num_batches_tracked, SGD momentum and step).
struct CheckpointTarget {
  std::shared_ptr<nn::Sequential> model = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Layer>>{
      std::make_shared<nn::Conv2d>(1, 2, 3), std::make_shared<nn::BatchNorm2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(8, 3)});
  optim::SGD optimizer{model->parameters(), SgdConfig{0.1, 0.9}};
  train::CheckpointParts parts() { return {{{"", model.get()}}, {{"optimizer", &optimizer}}}; }
  // One SGD step, so that the optimizer holds momentum buffers.
  void step() {
    sum(model->forward(Tensor::ones({2, 1, 4, 4}))).backward();
    optimizer.step();
  }
};

// Spaced KD on write_small_fashion_mnist's folder: 4 steps an epoch, a
// replay every 2 steps, 2 epochs.
inline distill::KdRunConfig resume_target_config(const std::string& out_dir, const std::string& data_dir) {
  distill::KdRunConfig c;
  c.mode = distill::Mode::spaced;
  c.s = 0.5;
  c.teacher_model = c.student_model = "resnet8";
  c.train.data_dir = data_dir;
  c.train.subset = 16;
  c.train.test_subset = 8;
  c.train.eval_batch = 8;
  c.train.batch = 4;
  c.train.epochs = 2;
  c.train.seed = 3;
  c.train.device = DeviceRequest::cpu;
  c.train.out_dir = out_dir;
  return c;
}

// Runs resume_target_config in `dir` (data in dir/data, the run in dir/run)
// and stops it at its 3rd teacher step: epoch 0, two batches buffered, one
// replay done. Returns the checkpoint it wrote.
inline nn::SafetensorsFile stopped_spaced_kd_run(const std::filesystem::path& dir) {
  write_small_fashion_mnist(dir / "data");
  distill::KdRunConfig config = resume_target_config((dir / "run").string(), (dir / "data").string());
  int teacher_steps = 0;
  train::RunHooks hooks;
  hooks.log = nullptr;
  hooks.on_step = [&](const train::StepEvent& e) {
    if (e.role == train::Role::teacher && ++teacher_steps == 3) train::request_stop();
  };
  const std::string checkpoint = distill::run_kd(config, hooks).checkpoint;
  train::clear_stop_request();
  return nn::load_safetensors(checkpoint);
}

}  // namespace engram::fuzz
