#pragma once
// Host runtime only (ENGRAM_CUDA=HOST): the CUDA kernels run on the CPU and
// the order of their blocks and threads is chosen (core/cuda/host/scheduler.h).
// A test sets a schedule for one scope and compares results across schedules:
// a deterministic kernel gives bitwise-identical output under every one.
#if ENGRAM_CUDA_HOST

#include <cstdint>
#include <vector>

#include "core/cuda/host/scheduler.h"

namespace engram::testing {

// Sets the host runtime's schedule for one scope and restores the previous one.
class ScheduleGuard {
 public:
  explicit ScheduleGuard(cuda::host::Schedule s) : previous_(cuda::host::schedule()) { cuda::host::set_schedule(s); }
  ~ScheduleGuard() { cuda::host::set_schedule(previous_); }
  ScheduleGuard(const ScheduleGuard&) = delete;
  ScheduleGuard& operator=(const ScheduleGuard&) = delete;

 private:
  cuda::host::Schedule previous_;
};

// The schedules a check compares: in-order first (the reference), reversed,
// and a shuffled one when with_shuffled.
inline std::vector<cuda::host::Schedule> invariance_schedules(bool with_shuffled) {
  using cuda::host::Schedule;
  using cuda::host::ScheduleOrder;
  std::vector<Schedule> schedules{Schedule{ScheduleOrder::in_order, 0}, Schedule{ScheduleOrder::reversed, 0}};
  if (with_shuffled) schedules.push_back(Schedule{ScheduleOrder::shuffled, 7});
  return schedules;
}

}  // namespace engram::testing

#endif  // ENGRAM_CUDA_HOST
