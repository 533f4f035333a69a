#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Small shapes: CPU gradient check and CUDA parity.
std::vector<OpCase> softmax_cases();
// Large and odd shapes (many blocks, partial blocks, long rows, both load
// widths): CUDA parity only, too big for a finite-difference gradient check.
std::vector<OpCase> softmax_large_cases();
}  // namespace engram::testing
