#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Small shapes: gradient check and parity.
std::vector<OpCase> shape_ops_cases();
// Larger concats that reach every word size of the CUDA copy and more pieces
// than one launch holds: parity only.
std::vector<OpCase> shape_ops_parity_cases();
}  // namespace engram::testing
