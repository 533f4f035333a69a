#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Every loss, reduction, label smoothing, temperature and teacher mode on
// small shapes (CPU gradient check and CUDA parity): C = 1, 2, 4, 7, 8, 40,
// 129, batch 1, partly empty row blocks, squared errors with float4 tails.
// Parity only: batch-sized and odd shapes, misaligned inputs (the scalar
// kernels) and NaN / +-Inf logits. N = 0 is rejected by the API (losses need
// at least one row), so there is no batch-0 case.
std::vector<OpCase> loss_cases();
}  // namespace engram::testing
