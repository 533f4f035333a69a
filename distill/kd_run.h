#pragma once
// The knowledge-distillation runs: baseline, offline, online, Spaced KD,
// self KD (BYOT) and Spaced self KD, each a strategy of the one run loop
// (train/run.h; the strategies are in distill/kd_strategy.h).
//
//   for each epoch, for each step t:            batch(epoch, step) is a pure function of (seed, epoch, step)
//     baseline     student step on CE (train/baseline.h: the very strategy `train` runs)
//     offline      frozen teacher (eval mode) predicts; student step on the KD objective
//     online       teacher step on CE (+ KD from the student with mutual); student step on the same
//                  batch with the teacher's logits and features of this step
//     spaced       teacher step; every I = round(s * steps_per_epoch) steps the student replays every
//                  buffered batch, distilling from the teacher's predictions of that moment (no grad,
//                  teacher BN in train mode as the reference, or eval)
//     self         BYOT: the deepest exit learns from the labels, every shallow exit from the labels,
//                  the deepest exit's logits and its features, all in one step
//     spaced-self  the deepest exit trains on every batch (CE); the shallow exits are distilled on
//                  replayed buffers every I steps
//   end of training: the batches still buffered are replayed (spaced modes)
//
// A student step on batch (epoch, step) uses the learning rate of that batch's
// position, lr(epoch + step / steps_per_epoch), whenever it runs, so s = 0
// and the online path are the same computation.
//
// On CUDA no step synchronises with the host: batches come from the
// device-resident dataset, losses accumulate in device tensors, and a replay
// regenerates its batches into the loader's fixed buffers.
#include <memory>
#include <string>
#include <vector>

#include "distill/losses.h"
#include "train/run.h"

namespace engram::distill {

enum class Mode { baseline, offline, online, spaced, self, spaced_self };
// "baseline", "offline", "online", "spaced", "self", "spaced-self"
std::string mode_name(Mode mode);
Mode parse_mode(const std::string& name);  // ConfigError on "mode", listing the names
bool has_teacher(Mode mode);               // offline, online, spaced
bool is_spaced(Mode mode);                 // spaced, spaced-self

// The teacher's BatchNorm mode while it predicts for a replay.
enum class TeacherBn { train, eval };
const char* teacher_bn_name(TeacherBn mode);          // "train", "eval"
TeacherBn parse_teacher_bn(const std::string& name);  // ConfigError on "teacher_bn"

// The reference code's SGD learning rate; TrainConfig's own default is plain training's 0.1.
inline train::TrainConfig kd_train_defaults() {
  train::TrainConfig c;
  c.lr = 0.01;
  return c;
}

struct KdRunConfig {
  Mode mode = Mode::spaced;
  double s = 1.5;                          // spaced modes: the space interval in epochs (0: online)
  std::string teacher_model = "resnet20";
  std::string student_model = "resnet20";  // self modes: the multi-exit network's backbone
  std::string teacher_checkpoint;          // offline: a model (or `train` checkpoint) file
  bool mutual = false;                     // online: the teacher also distills from the student
  TeacherBn teacher_bn = TeacherBn::train;
  KdLossConfig loss;                       // self modes use alpha, temperature and beta; baseline label_smoothing
  train::TrainConfig train = kd_train_defaults();
};

// ConfigError naming the first distillation field out of range (the
// training fields are train::validate's).
void validate(const KdRunConfig& config);

// The mode's strategy: train::BaselineStrategy for the baseline.
std::unique_ptr<train::Strategy> make_strategy(const KdRunConfig& config);

// train::run with the mode's strategy.
train::RunResult run_kd(const KdRunConfig& config, const train::RunHooks& hooks = {});

// Whether two runs can share one teacher (run_kd_group): online or spaced KD
// without --mutual, with the same teacher and the same training (data, seed,
// batches, optimiser, schedule), whatever their students and intervals.
bool can_share_teacher(const KdRunConfig& a, const KdRunConfig& b);
// Online and spaced runs trained together on one teacher: the first run
// trains it, the others follow it (distill/kd_strategy.h SharedTeacher), in
// lockstep (train::run_lockstep). Each run's metrics, checkpoints and files
// are bitwise those of the same run alone, at the cost of one teacher instead
// of one per run. ConfigError when two of them cannot share a teacher.
std::vector<train::RunResult> run_kd_group(const std::vector<KdRunConfig>& configs,
                                           const std::vector<train::RunHooks>& hooks);

}  // namespace engram::distill
