#pragma once
// What a training run does at each step, as a strategy of the one run loop
// (train/run.h). The loop owns the data, the learning-rate schedule, the
// step records, evaluation, metrics, checkpoints and the progress display;
// a strategy owns its models and optimisers and decides which model learns
// what from each batch: plain training (train/baseline.h) and every
// distillation mode (distill/kd_strategy.h).
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/loader.h"
#include "nn/module.h"
#include "optim/optimizer.h"
#include "train/batch_ref.h"
#include "train/checkpoint.h"
#include "train/config.h"

namespace engram::train {

// Which model of a run a step or an evaluation belongs to; a plain run's
// model is the student.
enum class Role { student, teacher };

struct RunSetup {
  const TrainConfig& config;
  Device device;
  int64_t in_channels = 0, num_classes = 0, steps_per_epoch = 0;
};

// A model the loop evaluates after every epoch.
struct Evaluated {
  Role role;
  nn::Module* model;
  std::function<Tensor(const Tensor& images)> logits;
  // Multi-exit models: the mean of all exits' logits (BYOT's ensemble); empty otherwise.
  std::function<Tensor(const Tensor& images)> ensemble_logits = {};
};

// What the loop offers a strategy during a step.
class StepContext {
 public:
  virtual ~StepContext() = default;
  // Batch `ref` rebuilt, bitwise, in the training loader's buffers.
  virtual data::Batch batch(const BatchRef& ref) = 0;
  // A model learns `loss` of `batch`: zero_grad, backward, the learning rate
  // of the batch's position in training, lr(epoch + step / steps_per_epoch)
  // whenever it is learned, and the optimizer's step. Then its loss (and, with
  // `logits` defined, its correct count) and the optimizer's non-finite bits
  // are recorded on the device, and the step is reported to the run's hooks.
  virtual void learn(Role role, optim::Optimizer& optimizer, const BatchRef& ref, const data::Batch& batch,
                     const Tensor& loss, const Tensor& logits) = 0;
  // What learn() records, for a step another run took on this run's behalf
  // (a shared teacher's follower): `optimizer` is the one that stepped.
  virtual void record(Role role, const optim::Optimizer& optimizer, const BatchRef& ref, const data::Batch& batch,
                      const Tensor& loss, const Tensor& logits) = 0;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // One word for logs and checkpoints ("baseline", "spaced", ...).
  virtual std::string name() const = 0;
  // The models, for the run's first log line ("resnet56 -> resnet20").
  virtual std::string models() const = 0;
  // ConfigError for a field the strategy cannot run with; called before any data is loaded.
  virtual void validate(const TrainConfig& config) const { (void)config; }
  // The training loader's resident epoch orders (train/run_data.h).
  virtual int64_t resident_epochs() const { return 4; }
  // Builds the models and optimisers; the default generator is seeded just before.
  virtual void build(const RunSetup& setup) = 0;
  // The most steps a model of this role takes in one epoch of `steps` batches.
  virtual int64_t max_steps(Role role, int64_t steps) const = 0;
  // One step of the run, on batch `ref` of the training loader.
  virtual void step(const BatchRef& ref, const data::Batch& batch, StepContext& context) = 0;
  // In a lockstep group (train/run.h run_lockstep), what must happen before
  // any member's step(): a shared teacher's forward passes at its weights of
  // before the batch's update. Alone, a run calls it right before step().
  virtual void step_before(const BatchRef& ref, const data::Batch& batch, StepContext& context) {
    (void)ref, (void)batch, (void)context;
  }
  // After the last epoch's steps: whatever is still pending (a replay buffer).
  virtual void finish(StepContext& context) { (void)context; }
  virtual std::vector<Evaluated> evaluated() = 0;
  virtual CheckpointParts checkpoint_parts() = 0;
  // What a resumed run must share with the one that wrote the checkpoint, beyond TrainConfig's.
  virtual nlohmann::json identity() const = 0;
  // Strategy state a checkpoint keeps (a replay buffer); null when none.
  virtual nlohmann::json state() const { return nullptr; }
  virtual void load_state(const nlohmann::json& state) { (void)state; }
};

}  // namespace engram::train
