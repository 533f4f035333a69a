#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Small shapes: CPU gradient check and CUDA parity, every loss, reduction,
// label smoothing, temperature and teacher mode.
std::vector<OpCase> loss_cases();
// Batch-sized and odd shapes: CUDA parity only.
std::vector<OpCase> loss_large_cases();
}  // namespace engram::testing
