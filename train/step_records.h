#pragma once
// One model's steps in an epoch: each step's loss, correct count and
// non-finite bits are written into device tensors with no synchronisation,
// and read by the host once, at the epoch's end.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/tensor.h"
#include "train/batch_ref.h"

namespace engram::train {

class StepRecords {
 public:
  StepRecords() = default;
  // At most `capacity` steps per epoch (ValueError beyond).
  StepRecords(int64_t capacity, Device device);

  // The step's loss (a scalar) on batch `ref`; when `logits` is defined, its
  // correct count over `labels` for the training accuracy; when `nonfinite`
  // is defined, its bits (the optimizer's, optim/optimizer.h) as they are
  // after the step.
  void record(const BatchRef& ref, const Tensor& loss, const Tensor& logits, const Tensor& labels,
              const Tensor& nonfinite);
  int64_t count() const { return count_; }
  // The mean loss of the steps so far: one device read (for the progress bar).
  double running_loss() const;

  struct Epoch {
    std::vector<float> losses;      // every step's, in order
    std::vector<BatchRef> batches;  // the batch of each step
    std::vector<int32_t> nonfinite; // every step's non-finite bits
    double mean_loss = 0;       // NaN when no step was taken
    double accuracy = 0;        // percent; NaN unless every step recorded logits
    int64_t host_reads = 0;     // device-to-host reads this took
  };
  // Reads the epoch's records and starts the next epoch.
  Epoch take();

  // The records of an unfinished epoch (one host read), for a checkpoint,
  // and their return into the device buffer; IOError for a malformed state.
  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);

 private:
  Tensor records_;
  std::vector<BatchRef> batches_;
  int64_t capacity_ = 0, count_ = 0, counted_steps_ = 0, counted_samples_ = 0;
};

}  // namespace engram::train
