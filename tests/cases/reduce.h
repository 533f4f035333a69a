#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Small shapes: the CPU gradient check and the CUDA parity test.
std::vector<OpCase> reduce_cases();
// Larger shapes that reach every CUDA kernel path (long rows split over
// blocks, unaligned rows, columns, ties): CUDA parity only.
std::vector<OpCase> reduce_parity_cases();
}  // namespace engram::testing
