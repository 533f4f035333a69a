#pragma once
// Batch-norm op cases. Inputs are packed in this order, undefined ones left
// out: x, weight, bias, running_mean, running_var, residual. Only x, weight,
// bias and residual require grad, so "the inputs that do not require grad"
// are exactly the running statistics (tests/cuda/test_batchnorm.cpp compares
// them too).
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {

// Small shapes for the double gradient check and the CUDA parity test:
// training and evaluation, affine and not, with and without running
// statistics, the relu and add+relu variants, N = 1, C = 1, H*W = 1, odd C,
// float4 and scalar planes. Parity only: multi-block reductions (vectorised
// and scalar, large and small maps), a large mean relative to the spread, a
// batch of 0 (evaluation), misaligned inputs and NaN / +-Inf inputs.
std::vector<OpCase> batchnorm_cases();

}  // namespace engram::testing
