#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// sum, mean, max, argmax (all of a tensor and along every dimension) and
// count_correct. Small shapes are gradient-checked: rows shorter and longer
// than a warp, columns covering part of a 32-wide tile, a column of one.
// Parity only: larger shapes that reach every CUDA kernel path (long rows
// split over blocks, unaligned rows, columns, ties, grids past 65535 blocks),
// empty tensors (a batch of 0, rows of length 0), misaligned inputs, and
// NaN / +-Inf along rows, long rows and columns.
std::vector<OpCase> reduce_cases();
}  // namespace engram::testing
