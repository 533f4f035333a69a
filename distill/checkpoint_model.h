#pragma once
// One model of a run's checkpoint (train::run's last.safetensors), rebuilt on
// the CPU from the run identity its state block records: for tools that study
// a trained model, like the sharpness program.
#include <functional>
#include <memory>
#include <string>

#include "train/sharpness.h"
#include "train/strategy.h"

namespace engram::distill {

struct CheckpointModel {
  std::string mode;     // the run's strategy: baseline, offline, online, spaced, self, spaced-self
  std::string name;     // the zoo name of the model
  std::string dataset;  // what the run trained on
  int64_t epochs = 0;   // finished epochs
  std::shared_ptr<nn::Module> module;
  std::function<Tensor(const Tensor&)> logits;  // self modes: the deepest exit's
};

// The student (a baseline run's model; a self mode's multi-exit network) or
// the teacher (online and spaced) of the checkpoint at `path`. ConfigError
// when the run has no such model; the checkpoint loader's errors for a file
// that does not match.
CheckpointModel load_checkpoint_model(const std::string& path, train::Role role);

// What the sharpness of a checkpoint's model is measured on.
struct SharpnessRequest {
  std::string data_dir;  // empty: the dataset's default folder
  int64_t samples = 512, batch = 128;
  train::SharpnessOptions options;
};

// The model, converted to f64, measured on the first `samples` training
// images of its run's dataset (train/sharpness.h).
train::Sharpness model_sharpness(CheckpointModel& model, const SharpnessRequest& request);

}  // namespace engram::distill
