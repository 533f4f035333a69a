#pragma once
// The one training loop. Every run, plain or distilled, is this loop with a
// strategy (train/strategy.h):
//
//   load the data (train/run_data.h); seed; strategy.build; resume if asked
//   for each epoch, for each step:  batch = loader.batch(epoch, step)    (a pure function of seed, epoch, step)
//                                   strategy.step(batch)                 (models step, losses recorded on the device)
//   after the last epoch's steps:   strategy.finish                      (what is still buffered)
//   end of each epoch:  read the step records, evaluate every model (and after BN recalibration),
//                       write metrics.{csv,json,svg} and last.safetensors into out_dir
//
// The host reads the device only at the end of an epoch (RunResult::
// host_reads_per_epoch) and when the progress bar prints its running loss.
// A run resumed from its last.safetensors continues exactly as the
// uninterrupted run: batches depend only on (seed, epoch, step), and the
// checkpoint restores the weights, BN buffers, optimiser state, default
// generator, strategy state and metrics.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "train/metrics.h"
#include "train/strategy.h"

namespace engram::train {

struct StepEvent {
  Role role;
  BatchRef batch;
  const data::Batch* data;  // the batch the step trained on (valid during the call)
};

struct RunHooks {
  std::function<void(const StepEvent&)> on_step;           // every model step, in order
  std::function<void(const EpochMetrics&)> on_epoch_end;  // after the epoch's checkpoint
  int64_t stop_after_epoch = 0;                            // > 0: return after this epoch, as if interrupted
  std::FILE* log = stdout;                                 // progress and one line per epoch; nullptr: silent
};

struct RunResult {
  std::vector<EpochMetrics> history;  // every epoch so far, resumed ones included
  int64_t first_epoch = 0;            // the first epoch this call trained (0-based)
  // The loss of every step this call took, in the order taken.
  std::vector<float> student_step_losses, teacher_step_losses;
  int64_t host_reads_per_epoch = 0;  // device-to-host reads at each epoch's end
  std::string checkpoint;            // the last checkpoint written ("" if none)
  // Stopped by train::request_stop (Ctrl-C, train/interrupt.h) at a step
  // boundary; `checkpoint` then holds the unfinished epoch.
  bool interrupted = false;
};

// When a stop is requested (train/interrupt.h) the loop checkpoints at the
// next step boundary (with out_dir set) and returns with `interrupted`.
// ConfigError naming a field for an invalid configuration, the data and
// checkpoint errors of the loaders, and NumericalError when a loss becomes
// NaN or infinite (the previous epoch's checkpoint is kept).
RunResult run(const TrainConfig& config, Strategy& strategy, const RunHooks& hooks = {});

// Runs that advance together, batch by batch: at every step each member's
// Strategy::step_before, then each member's Strategy::step, in member order;
// every member's epoch end after the epoch's steps. Members share their
// batches' positions (the same epochs and steps; ConfigError otherwise) and
// stop together: on a stop request each checkpoints at the same step, and a
// group resumes only when all its checkpoints are at the same position. A
// shared teacher's runs are such a group (distill/kd_run.h run_kd_group).
struct Member {
  const TrainConfig& config;
  Strategy& strategy;
  const RunHooks& hooks;
};
std::vector<RunResult> run_lockstep(const std::vector<Member>& members);

}  // namespace engram::train
