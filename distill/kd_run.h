#pragma once
// One knowledge-distillation training run: baseline, offline, online, Spaced
// KD, self KD (BYOT) and Spaced self KD, all driven by one loop.
//
//   for each epoch, for each step t:            batch(epoch, step) is a pure function of (seed, epoch, step)
//     baseline     student step on CE
//     offline      frozen teacher (eval mode) predicts; student step on the KD objective
//     online       teacher step on CE (+ KD from the student with --mutual); student step on the same
//                  batch with the teacher's logits and features of this step
//     spaced       teacher step; every I = round(s * steps_per_epoch) steps the student replays every
//                  buffered batch, distilling from the teacher's predictions of that moment (no grad,
//                  teacher BN in train mode as the reference, or eval)
//     self         BYOT: the deepest exit learns from the labels, every shallow exit from the labels,
//                  the deepest exit's logits and its features, all in one step
//     spaced-self  the deepest exit trains on every batch (CE); the shallow exits are distilled on
//                  replayed buffers every I steps
//   end of training: the batches still buffered are replayed (spaced modes)
//   end of epoch: read the step losses, evaluate on the test split, checkpoint
//
// A student step on batch (epoch, step) uses the learning rate of that batch's
// position, lr(epoch + step / steps_per_epoch), whenever it runs, so s = 0
// and the online path are the same computation.
//
// On CUDA no step synchronises with the host: batches come from the
// device-resident dataset, losses accumulate in device tensors, and a replay
// regenerates its batches into the loader's fixed buffers. The host reads
// the device only at the end of an epoch (see KdRunResult::host_reads_per_epoch).
#include <cstdint>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/loader.h"
#include "distill/losses.h"
#include "distill/spaced.h"

namespace engram::distill {

enum class Mode { baseline, offline, online, spaced, self, spaced_self };
// "baseline", "offline", "online", "spaced", "self", "spaced-self"
std::string mode_name(Mode mode);
Mode parse_mode(const std::string& name);  // ValueError listing the names
bool has_teacher(Mode mode);               // offline, online, spaced
bool is_spaced(Mode mode);                 // spaced, spaced-self

struct KdRunConfig {
  Mode mode = Mode::spaced;
  double s = 1.5;  // spaced modes: the space interval in epochs (0: online)
  std::string dataset = "fashion-mnist";
  std::string data_dir;  // empty: the dataset's default folder
  std::string teacher_model = "resnet20";
  std::string student_model = "resnet20";  // self modes: the multi-exit network's backbone
  std::string teacher_checkpoint;          // offline: a model (or `train` checkpoint) file
  bool mutual = false;                     // online: the teacher also distills from the student
  std::string teacher_bn = "train";        // spaced: the teacher's BN mode while predicting for a replay
  KdLossConfig loss;                       // self modes use alpha, temperature and beta too
  int64_t epochs = 30;
  int64_t batch = 128;
  int64_t eval_batch = 500;
  double lr = 0.01, momentum = 0.9, weight_decay = 5e-4;
  std::string schedule = "cosine";  // cosine | constant
  uint64_t seed = 0;
  std::string device = "auto";  // auto | cpu | cuda
  std::string out_dir;          // empty: no checkpoint
  std::string resume;           // a checkpoint written by an earlier run of the same configuration
  bool augment = true;
  int64_t subset = 0;       // > 0: the first `subset` training images
  int64_t test_subset = 0;  // > 0: the first `test_subset` test images
  // > 0: every evaluation is also reported after recalibrating the BN running
  // statistics on this many training batches (nn/bn_recalibrate.h); the run
  // itself continues with the statistics it had.
  int64_t bn_recalibrate = 0;
};

// Teacher columns are NaN where a mode has no teacher (baseline, self); in
// spaced-self the teacher is the deepest exit: its train loss is the CE of the
// every-step updates, its test columns NaN (the student's are the deepest exit's).
struct KdEpochMetrics {
  int64_t epoch = 0;  // 1-based
  double lr = 0;      // at the epoch's first step
  double teacher_train_loss = 0, teacher_test_loss = 0, teacher_test_accuracy = 0;
  double student_train_loss = 0, student_test_loss = 0, student_test_accuracy = 0;
  // Test accuracy after BN recalibration (NaN when KdRunConfig::bn_recalibrate is 0).
  double teacher_recalibrated_accuracy = 0, student_recalibrated_accuracy = 0;
  int64_t student_steps = 0;  // student steps taken in this epoch (bursts in the spaced modes)
  double seconds = 0;
};

// One epoch as JSON (NaN as null), the form checkpoints and spaced_kd's result.json use.
nlohmann::json to_json(const KdEpochMetrics& m);
KdEpochMetrics kd_epoch_metrics_from_json(const nlohmann::json& j);

enum class EventKind { teacher_step, student_step };
struct KdEvent {
  EventKind kind;
  BatchRef batch;
  const data::Batch* data;  // the batch the step trained on (valid during the call)
};

struct KdHooks {
  std::function<void(const KdEvent&)> on_event;  // every teacher and student step, in order
  int64_t stop_after_epoch = 0;                  // > 0: return after this epoch, as if interrupted
  std::FILE* log = stdout;                       // one line per epoch; nullptr: silent
};

struct KdRunResult {
  std::vector<KdEpochMetrics> history;  // every epoch so far, resumed ones included
  // The loss of every step this call took, in the order taken (spaced
  // students: replay order). Self modes: student = the multi-exit network.
  std::vector<float> teacher_step_losses, student_step_losses;
  int64_t host_reads_per_epoch = 0;  // device-to-host reads at each epoch's end
  std::string checkpoint;            // the last checkpoint written ("" if none)
};

// Throws ValueError for an invalid configuration (naming the flag), the
// data and checkpoint errors of the loaders, and NumericalError when a loss
// becomes NaN or infinite.
void validate(const KdRunConfig& config);
KdRunResult run_kd(const KdRunConfig& config, const KdHooks& hooks = {});

}  // namespace engram::distill
