#pragma once
// The Spaced KD schedule (Sun et al., ICML 2025): the teacher trains on every
// batch as it arrives; the student learns the same batches I = round(s x
// steps_per_epoch) steps later, all at once, from the teacher's predictions of
// that moment. s = 0 is plain online KD (the student learns each batch in the
// same step as the teacher).
//
// The buffer holds batch descriptors, not images: a batch is a pure function
// of (seed, epoch, step) (data/loader.h), so replaying (epoch, step)
// regenerates the identical augmented batch, sample indices included. A
// buffer of 1.5 epochs of CIFAR is a few KB.
//
// Where the run ends inside an interval, the buffer still holds batches the
// student has not learned; flush() hands them over so that the student sees
// every batch exactly once (the reference code leaves them unused).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "train/batch_ref.h"

namespace engram::distill {

using train::BatchRef;

// round(s * steps_per_epoch), rounding halves up; 0 means online KD. A
// positive s shorter than one step is one step.
int64_t replay_interval(double s, int64_t steps_per_epoch);

class SpacedSchedule {
 public:
  // s >= 0 (epochs), steps_per_epoch >= 1; ValueError otherwise.
  SpacedSchedule(double s, int64_t steps_per_epoch);

  double s() const { return s_; }
  int64_t interval() const { return interval_; }
  bool online() const { return interval_ == 0; }

  // Records that the teacher has trained on `batch` (global step t = epoch *
  // steps_per_epoch + step). Returns the batches the student learns now, in
  // the order the teacher saw them: with I > 0, every buffered batch when
  // (t + 1) % I == 0 and none otherwise; online, just `batch`.
  std::vector<BatchRef> teacher_stepped(const BatchRef& batch);
  // The batches still buffered (end of training), emptying the buffer.
  std::vector<BatchRef> flush();
  const std::vector<BatchRef>& pending() const { return buffer_; }

  // The buffer, for checkpoints: [[epoch, step], ...].
  nlohmann::json state() const;
  // ValueError if `state` is malformed or holds more batches than an interval.
  void load_state(const nlohmann::json& state);

 private:
  double s_;
  int64_t steps_per_epoch_, interval_;
  std::vector<BatchRef> buffer_;
};

}  // namespace engram::distill
