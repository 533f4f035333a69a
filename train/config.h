#pragma once
// What every training run is configured by, whatever its strategy (plain
// training or a distillation mode): the data, the optimiser and its learning
// rate schedule, the seed, the device and the output folder. Field names are
// the names errors use (ConfigError::field()); programs map them to flags.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace engram::train {

enum class OptimizerKind { sgd, adamw };
enum class ScheduleKind { constant, multistep, cosine };

// Names as the command lines spell them; parse_* throw ConfigError on the field.
const char* optimizer_name(OptimizerKind kind);
OptimizerKind parse_optimizer(const std::string& name);
const char* schedule_name(ScheduleKind kind);
ScheduleKind parse_schedule(const std::string& name);

struct TrainConfig {
  std::string dataset = "fashion-mnist";  // a data::dataset_names() entry
  std::string data_dir;                   // empty: data::default_data_dir(dataset)
  int64_t epochs = 30;
  int64_t batch = 128;
  int64_t eval_batch = 500;
  OptimizerKind optimizer = OptimizerKind::sgd;
  double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;  // momentum and nesterov: SGD only
  bool nesterov = false;
  ScheduleKind schedule = ScheduleKind::cosine;
  std::vector<double> milestones;  // multistep: epochs at which lr *= gamma
  double gamma = 0.1;
  double warmup_epochs = 0;  // linear warm-up from lr / 10, before the schedule
  uint64_t seed = 0;
  DeviceRequest device = DeviceRequest::automatic;
  std::string out_dir;      // metrics.{csv,json,svg} and last.safetensors; empty: no files
  std::string resume;       // a last.safetensors to continue from; empty: a fresh start
  bool augment = true;      // the dataset's training augmentation; false: normalise only
  int64_t crop_padding = -1;    // with augment: the random crop's padding; -1: the dataset's, 0: no crop
  double rotation_degrees = 0;  // with augment: a random rotation in [-d, d] degrees, d <= 45; 0: none
  int64_t subset = 0;       // > 0: train on the first `subset` training images
  int64_t test_subset = 0;  // > 0: evaluate on the first `test_subset` test images
  // > 0: each evaluation is also reported after recomputing the BN running
  // statistics on this many training batches (train/bn_recalibrate.h); the
  // run continues with the statistics it had.
  int64_t bn_recalibrate = 0;
  // Checks every op's output and gradient, and every update, for NaN and Inf
  // as it is made (core/autograd.h), waiting for the device each time: for
  // debugging, at its cost. Results are the same with or without it.
  bool detect_anomaly = false;
};

// ConfigError naming the first field out of range, e.g. "train: epochs must be at least 1, got 0".
void validate(const TrainConfig& config);

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& config, std::vector<Tensor> params);
// The warm-up (if any) and then the schedule; milestones and the cosine's
// length count epochs from the start of training, warm-up included.
std::unique_ptr<optim::LrSchedule> make_schedule(const TrainConfig& config);

}  // namespace engram::train
