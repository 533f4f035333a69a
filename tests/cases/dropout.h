#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Dropout with a fixed seed inside each case, so every evaluation (the
// gradient check's many forward passes, the CPU and the CUDA run) draws the
// same mask. Small and odd sizes are gradient-checked; larger sizes (tails of
// 1-3 elements after the last group of four), unaligned inputs (the scalar
// kernel), a batch of 0 and NaN / +-Inf inputs are parity only.
std::vector<OpCase> dropout_cases();
}  // namespace engram::testing
