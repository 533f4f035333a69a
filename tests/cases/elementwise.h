#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// add, sub, mul, scale, relu and add_relu on 1-element, odd (7, 13, 33, 127),
// size-1 and 4-D shapes (gradient check and parity); a batch of 0 and
// NaN / +-Inf inputs (parity only). The CUDA kernels are scalar grid-stride
// loops: there is no vector path to reach.
std::vector<OpCase> elementwise_cases();
}  // namespace engram::testing
