#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {

// max, avg (with and without the padding), adaptive and global average
// pooling. Small shapes are gradient-checked and compared on CUDA: max-pool
// inputs are distinct values spaced far apart, so no window has a tie and
// finite differences never cross a switch of the argmax; odd, non-square and
// 1x1 maps, windows that are mostly padding, both global-average load widths.
// Parity only: larger maps, max-pool ties (both backends break them the same
// way), a batch of 0, misaligned inputs and NaN / +-Inf values.
std::vector<OpCase> pool_cases();

}  // namespace engram::testing
