#pragma once
#include <vector>

#include "tests/support/op_case.h"

namespace engram::testing {
// softmax and log_softmax on [N, C]. Small shapes (CPU gradient check and CUDA
// parity): C = 1, odd C, C = 4 and 8 (float4 rows, fewer columns than lanes),
// C > 32 (several columns per lane), row counts that leave the last block of
// 8 rows partly empty. Parity only: large shapes (many blocks, long rows, both
// load widths), unaligned inputs (scalar rows with C % 4 == 0) and NaN / +-Inf
// logits. N = 0 is rejected by the API, so there is no batch-0 case.
std::vector<OpCase> softmax_cases();
}  // namespace engram::testing
