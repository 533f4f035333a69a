#pragma once
// OpenMP helpers for the CPU loops (the kernels' reference, the data batch):
// parallelise only when the work is large enough to pay for waking the thread
// team. Built without OpenMP, the loops run serially.
#include <cstdint>

namespace engram {

constexpr int64_t kParallelGrain = 1 << 15;

template <typename Body>
void parallel_for(int64_t n, Body body) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace engram
