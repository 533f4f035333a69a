#include "train/step_records.h"

#include <cmath>
#include <numeric>

#include "core/autograd.h"
#include "core/error.h"
#include "kernels/reduce.h"

namespace engram::train {

namespace {
double mean_of(const std::vector<float>& values) {
  double total = std::accumulate(values.begin(), values.end(), 0.0);
  return values.empty() ? NAN : total / static_cast<double>(values.size());
}
}  // namespace

// One f32 buffer: the losses in [0, capacity), the correct counts (exact in
// f32 up to 2^24 samples a step) in [capacity, 2 capacity), so that an epoch's
// records come to the host in one read.
StepRecords::StepRecords(int64_t capacity, Device device)
    : records_(Tensor::zeros({2 * capacity}, DType::f32, device)), capacity_(capacity) {}

void StepRecords::record(const Tensor& loss, const Tensor& logits, const Tensor& labels) {
  ENGRAM_CHECK(count_ < capacity_, ValueError, "StepRecords",
               "more than the " + std::to_string(capacity_) + " steps planned for one epoch");
  NoGradGuard no_grad;
  records_.narrow_rows(count_, 1).copy_(loss.detach().reshape({1}));
  if (logits.defined()) {
    records_.narrow_rows(capacity_ + count_, 1).copy_(count_correct(logits.detach(), labels).to(DType::f32).reshape({1}));
    counted_samples_ += labels.size(0);
    ++counted_steps_;
  }
  ++count_;
}

double StepRecords::running_loss() const {
  return count_ == 0 ? NAN : mean_of(records_.narrow_rows(0, count_).to_vector<float>());
}

StepRecords::Epoch StepRecords::take() {
  Epoch epoch;
  epoch.mean_loss = epoch.accuracy = NAN;
  if (count_ > 0) {
    std::vector<float> records = records_.to_vector<float>();
    epoch.host_reads = 1;
    epoch.losses.assign(records.begin(), records.begin() + count_);
    epoch.mean_loss = mean_of(epoch.losses);
    if (counted_steps_ == count_ && counted_samples_ > 0) {
      double correct = std::accumulate(records.begin() + capacity_, records.begin() + capacity_ + count_, 0.0);
      epoch.accuracy = 100.0 * correct / static_cast<double>(counted_samples_);
    }
  }
  count_ = counted_steps_ = counted_samples_ = 0;
  return epoch;
}

}  // namespace engram::train
