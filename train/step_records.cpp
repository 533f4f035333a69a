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

// One f32 buffer, so that an epoch's records come to the host in one read:
// the losses in [0, capacity), the correct counts (exact in f32 up to 2^24
// samples a step) in [capacity, 2 capacity), the non-finite bits in
// [2 capacity, 3 capacity).
StepRecords::StepRecords(int64_t capacity, Device device)
    : records_(Tensor::zeros({3 * capacity}, DType::f32, device)), capacity_(capacity) {}

void StepRecords::record(const BatchRef& ref, const Tensor& loss, const Tensor& logits, const Tensor& labels,
                         const Tensor& nonfinite) {
  ENGRAM_CHECK(count_ < capacity_, ValueError, "StepRecords",
               "more than the " + std::to_string(capacity_) + " steps planned for one epoch");
  NoGradGuard no_grad;
  records_.narrow_rows(count_, 1).copy_(loss.detach().reshape({1}));
  if (logits.defined()) {
    records_.narrow_rows(capacity_ + count_, 1).copy_(count_correct(logits.detach(), labels).to(DType::f32).reshape({1}));
    counted_samples_ += labels.size(0);
    ++counted_steps_;
  }
  if (nonfinite.defined()) records_.narrow_rows(2 * capacity_ + count_, 1).copy_(nonfinite.to(DType::f32).reshape({1}));
  batches_.push_back(ref);
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
    for (int64_t i = 0; i < count_; ++i) epoch.nonfinite.push_back(static_cast<int32_t>(records[2 * capacity_ + i]));
    if (counted_steps_ == count_ && counted_samples_ > 0) {
      double correct = std::accumulate(records.begin() + capacity_, records.begin() + capacity_ + count_, 0.0);
      epoch.accuracy = 100.0 * correct / static_cast<double>(counted_samples_);
    }
  }
  epoch.batches = std::move(batches_);
  batches_.clear();
  count_ = counted_steps_ = counted_samples_ = 0;
  return epoch;
}

nlohmann::json StepRecords::state() const {
  nlohmann::json batches = nlohmann::json::array();
  for (const BatchRef& b : batches_) batches.push_back({b.epoch, b.step});
  std::vector<float> records = count_ > 0 ? records_.to_vector<float>() : std::vector<float>{};
  std::vector<float> losses(records.begin(), records.begin() + count_);
  std::vector<float> correct, nonfinite;
  if (count_ > 0) {
    correct.assign(records.begin() + capacity_, records.begin() + capacity_ + count_);
    nonfinite.assign(records.begin() + 2 * capacity_, records.begin() + 2 * capacity_ + count_);
  }
  // float -> JSON double -> float is exact.
  return {{"losses", losses},
          {"correct", correct},
          {"nonfinite", nonfinite},
          {"batches", batches},
          {"counted_steps", counted_steps_},
          {"counted_samples", counted_samples_}};
}

void StepRecords::load_state(const nlohmann::json& state) {
  try {
    std::vector<float> losses = state.at("losses").get<std::vector<float>>();
    std::vector<float> correct = state.at("correct").get<std::vector<float>>();
    std::vector<float> nonfinite = state.at("nonfinite").get<std::vector<float>>();
    const nlohmann::json& batches = state.at("batches");
    const int64_t n = static_cast<int64_t>(losses.size());
    ENGRAM_CHECK(n <= capacity_ && correct.size() == losses.size() && nonfinite.size() == losses.size() &&
                     batches.size() == losses.size(),
                 IOError, "StepRecords",
                 "the saved records hold " + std::to_string(n) + " steps, at most " + std::to_string(capacity_) +
                     " fit, with as many counts, non-finite bits and batches");
    batches_.clear();
    for (const nlohmann::json& b : batches) batches_.push_back({b.at(0).get<uint64_t>(), b.at(1).get<int64_t>()});
    count_ = n;
    counted_steps_ = state.at("counted_steps").get<int64_t>();
    counted_samples_ = state.at("counted_samples").get<int64_t>();
    if (n == 0) return;
    NoGradGuard no_grad;
    const Device device = records_.device();
    records_.narrow_rows(0, n).copy_(Tensor::from_vector<float>(losses, {n}).to(device));
    records_.narrow_rows(capacity_, n).copy_(Tensor::from_vector<float>(correct, {n}).to(device));
    records_.narrow_rows(2 * capacity_, n).copy_(Tensor::from_vector<float>(nonfinite, {n}).to(device));
  } catch (const nlohmann::json::exception& e) {
    throw IOError(std::string("StepRecords: the saved records are malformed (") + e.what() + ")");
  }
}

}  // namespace engram::train
