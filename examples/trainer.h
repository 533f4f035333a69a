#pragma once
// The training loop of examples/train, as a library so that the tests run the
// very code the program runs. One epoch:
//
//   for step in [0, steps):  lr = schedule(epoch + step / steps)
//     batch = loader.batch(epoch, step)            (a pure function of seed, epoch, step)
//     loss = cross_entropy(model(batch).logits);  backward;  optimizer step
//     step_losses[step] = loss, step_correct[step] = count_correct(...)   (device tensors, no sync)
//   evaluate on the test split, append the epoch's metrics, write metrics.{csv,json,svg}
//   save <out>/last.safetensors (model, optimizer, epoch, generator state, metrics so far)
//
// The host reads the device only to draw the progress bar (at most ten times a
// second) and once at the end of each epoch. A run resumed from last.safetensors
// continues exactly as the uninterrupted run: the batches depend only on
// (seed, epoch, step), and the checkpoint restores the weights, the BN
// buffers, the optimizer's buffers and step count, and the default generator.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "examples/metrics.h"
#include "nn/models.h"

namespace engram::train {

struct TrainConfig {
  std::string dataset = "fashion-mnist";  // a data::dataset_names() entry
  std::string data_dir;                   // empty: data::default_data_dir(dataset)
  std::string model = "resnet20";         // a model-zoo name (nn::model_names())
  int64_t epochs = 30;
  int64_t batch = 128;
  int64_t eval_batch = 500;
  std::string optimizer = "sgd";  // sgd | adamw
  double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;
  bool nesterov = false;
  std::string schedule = "cosine";  // constant | multistep | cosine
  std::vector<double> milestones;   // multistep: epochs at which lr *= gamma
  double gamma = 0.1;
  double warmup_epochs = 0;  // linear warm-up from lr / 10, before the schedule
  uint64_t seed = 0;
  std::string device = "auto";  // auto | cpu | cuda
  std::string out_dir = "runs/train";
  std::string resume;       // a last.safetensors to continue from; empty: fresh start
  bool augment = true;      // the dataset's training augmentation (random crop, flips); false: normalise only
  int64_t subset = 0;       // > 0: train on the first `subset` training images
  int64_t test_subset = 0;  // > 0: evaluate on the first `test_subset` test images
  // > 0: each epoch's test accuracy is also reported after recomputing the BN
  // running statistics on this many training batches (nn/bn_recalibrate.h);
  // training continues with the statistics it had.
  int64_t bn_recalibrate = 0;
};

struct EpochResult {
  EpochMetrics metrics;
  std::vector<float> step_losses;  // the loss of every step, in order
};

using ModelFactory = std::function<std::shared_ptr<nn::Classifier>(int64_t in_channels, int64_t num_classes)>;

struct TrainHooks {
  ModelFactory make_model;                               // empty: nn::make_model(config.model, ...)
  std::function<void(const EpochResult&)> on_epoch_end;  // after the epoch's checkpoint is written
  int64_t stop_after_epoch = 0;                          // > 0: return after this epoch, as if interrupted
  std::FILE* log = stdout;                               // progress and summaries; nullptr: silent
};

struct TrainSummary {
  std::vector<EpochMetrics> history;  // every epoch so far, resumed ones included
  int64_t first_epoch = 0;            // the first epoch this call trained (0-based)
  std::string checkpoint;             // the last checkpoint written ("" if none)
};

// Throws ValueError (message "train: --flag ...") for an invalid configuration.
void validate(const TrainConfig& config);

// Trains (or resumes) as configured. Throws engram::Error on bad input
// (configuration, dataset, checkpoint) and NumericalError when the loss
// becomes NaN or infinite (the previous epoch's checkpoint is kept).
TrainSummary run_training(const TrainConfig& config, const TrainHooks& hooks = {});

}  // namespace engram::train
