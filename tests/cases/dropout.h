#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Dropout with a fixed seed inside each case, so every evaluation (the
// gradient check's many forward passes, the CPU and the CUDA run) draws the
// same mask. Small shapes: gradient check and parity.
std::vector<OpCase> dropout_cases();
// Larger and odd sizes (tails of 1-3 elements after the last group of four): parity only.
std::vector<OpCase> dropout_parity_cases();
}  // namespace engram::testing
