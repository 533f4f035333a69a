#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {

// Small shapes for the double gradient check and the CUDA parity test.
// Max-pool inputs are distinct values spaced far apart, so no window has a
// tie and finite differences never cross a switch of the argmax.
std::vector<OpCase> pool_cases();
// Larger shapes (and max-pool ties, which both backends break the same way)
// for the CUDA parity test only.
std::vector<OpCase> pool_parity_cases();

}  // namespace engram::testing
