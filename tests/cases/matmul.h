#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// Small matmul / linear cases: every transpose combination, batched, odd
// shapes and shapes that cross the CUDA kernel's tile edges. Cheap enough for
// the f64 gradient check.
std::vector<OpCase> matmul_cases();
// Larger cases for CPU-vs-CUDA parity only: they reach the CUDA kernel's
// 128x128 tiles (many tiles), its split-K path, the ResNet classifier head,
// and both the 16-byte and the scalar load paths.
std::vector<OpCase> matmul_large_cases();
}  // namespace engram::testing
