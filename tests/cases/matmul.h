#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// matmul and linear. Small cases (f64 gradient check and CUDA parity): every
// transpose combination, batched, odd shapes and shapes that cross the CUDA
// kernel's tile edges, split-K on a single small tile with scalar and 16-byte
// loads. Parity only: the 128x128 tiles (many tiles), split-K in the backward
// GEMMs, the ResNet classifier head, more than 65535 batch entries (launches
// cut along gridDim.z), empty products (k = 0, m = 0, n = 0, a batch of 0),
// misaligned operands and NaN / +-Inf operands.
std::vector<OpCase> matmul_cases();
}  // namespace engram::testing
