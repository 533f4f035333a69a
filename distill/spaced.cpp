#include "distill/spaced.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace engram::distill {

namespace {
constexpr const char* kOp = "SpacedSchedule";
}

int64_t replay_interval(double s, int64_t steps_per_epoch) {
  if (s == 0) return 0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(s * static_cast<double>(steps_per_epoch) + 0.5)));
}

SpacedSchedule::SpacedSchedule(double s, int64_t steps_per_epoch) : s_(s), steps_per_epoch_(steps_per_epoch) {
  ENGRAM_CHECK(s >= 0 && std::isfinite(s), ValueError, kOp,
               "the space interval s must be a finite number of epochs >= 0, got " + std::to_string(s));
  ENGRAM_CHECK(steps_per_epoch >= 1, ValueError, kOp,
               "steps_per_epoch must be >= 1, got " + std::to_string(steps_per_epoch));
  interval_ = replay_interval(s, steps_per_epoch);
  buffer_.reserve(static_cast<size_t>(interval_));
}

std::vector<BatchRef> SpacedSchedule::teacher_stepped(const BatchRef& batch) {
  if (online()) return {batch};
  buffer_.push_back(batch);
  int64_t global_step = static_cast<int64_t>(batch.epoch) * steps_per_epoch_ + batch.step;
  if ((global_step + 1) % interval_ != 0) return {};
  return flush();
}

std::vector<BatchRef> SpacedSchedule::flush() {
  std::vector<BatchRef> due;
  due.swap(buffer_);
  buffer_.reserve(static_cast<size_t>(interval_));
  return due;
}

nlohmann::json SpacedSchedule::state() const {
  nlohmann::json out = nlohmann::json::array();
  for (const BatchRef& b : buffer_) out.push_back({b.epoch, b.step});
  return out;
}

void SpacedSchedule::load_state(const nlohmann::json& state) {
  ENGRAM_CHECK(state.is_array() && static_cast<int64_t>(state.size()) <= std::max<int64_t>(interval_, 0), ValueError,
               kOp,
               "a replay buffer must be a list of at most " + std::to_string(interval_) +
                   " [epoch, step] pairs (interval I), got " + state.dump());
  std::vector<BatchRef> loaded;
  for (const nlohmann::json& entry : state) {
    ENGRAM_CHECK(entry.is_array() && entry.size() == 2 && entry[0].is_number_unsigned() &&
                     entry[1].is_number_integer() && entry[1].get<int64_t>() >= 0 &&
                     entry[1].get<int64_t>() < steps_per_epoch_,
                 ValueError, kOp,
                 "a replay buffer entry must be [epoch, step] with 0 <= step < " + std::to_string(steps_per_epoch_) +
                     ", got " + entry.dump());
    loaded.push_back({entry[0].get<uint64_t>(), entry[1].get<int64_t>()});
  }
  buffer_ = std::move(loaded);
}

}  // namespace engram::distill
