#pragma once
// A training batch by its position: the loader builds the same batch, bitwise,
// from (seed, epoch, step) whenever it is asked, so a position is all a
// replay needs to keep.
#include <cstdint>

namespace engram::train {

struct BatchRef {
  uint64_t epoch = 0;
  int64_t step = 0;
  bool operator==(const BatchRef& other) const { return epoch == other.epoch && step == other.step; }
};

}  // namespace engram::train
