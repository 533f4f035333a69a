#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// flatten and concat. Small shapes are gradient-checked (odd widths, size-1
// and empty pieces). Parity only: larger concats that reach every word size
// of the CUDA copy (16, 8 and 4 bytes, and smaller ones on misaligned
// inputs), more pieces than one launch holds, a batch of 0 (no rows to copy)
// and NaN / +-Inf values (copied as they are).
std::vector<OpCase> shape_ops_cases();
}  // namespace engram::testing
