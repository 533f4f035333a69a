#include "tests/cases/matmul.h"

#include <algorithm>
#include <string>

#include "kernels/matmul.h"

namespace engram::testing {

namespace {

// Stored shape of an operand whose op() is [rows, cols], with an optional batch.
Shape stored(int64_t batch, int64_t rows, int64_t cols, bool trans) {
  Shape s = trans ? Shape{cols, rows} : Shape{rows, cols};
  if (batch > 0) s.insert(s.begin(), batch);
  return s;
}

std::string flags(bool trans_a, bool trans_b) { return std::string(trans_a ? "T" : "N") + (trans_b ? "T" : "N"); }

// op(a) [m, k] @ op(b) [k, n]; batch 0 means 2-D operands.
OpCase matmul_case(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  std::string name = "matmul " + flags(trans_a, trans_b) + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                     " k=" + std::to_string(k) + (batch > 0 ? " batch=" + std::to_string(batch) : "");
  OpCase c{name, normal_inputs({stored(batch, m, k, trans_a), stored(batch, k, n, trans_b)}),
           [trans_a, trans_b](auto& in) { return matmul(in[0], in[1], trans_a, trans_b); }};
  // Forward and both backward GEMMs reduce over k, m or n: f32 rounding grows with the longest.
  c.parity_tolerance = std::max(1e-4, 2e-6 * static_cast<double>(std::max({m, n, k})));
  return c;
}

OpCase linear_case(int64_t n, int64_t in, int64_t out, bool bias) {
  std::string name = "linear N=" + std::to_string(n) + " in=" + std::to_string(in) + " out=" + std::to_string(out) +
                     (bias ? " bias" : " no bias");
  std::vector<Shape> shapes{{n, in}, {out, in}};
  if (bias) shapes.push_back({out});
  OpCase c{name, normal_inputs(shapes),
           [bias](auto& in) { return bias ? linear(in[0], in[1], in[2]) : linear(in[0], in[1]); }};
  c.parity_tolerance = std::max(1e-4, 2e-6 * static_cast<double>(std::max({n, in, out})));
  return c;
}

}  // namespace

std::vector<OpCase> matmul_cases() {
  std::vector<OpCase> cases;
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true}) {
      cases.push_back(matmul_case(0, 3, 5, 4, trans_a, trans_b));    // non-square
      cases.push_back(matmul_case(3, 4, 2, 5, trans_a, trans_b));    // batched
      cases.push_back(matmul_case(0, 17, 65, 9, trans_a, trans_b));  // crosses 8 / 16 / 64-wide tile edges
    }
  cases.push_back(matmul_case(0, 1, 1, 1, false, false));  // 1x1
  cases.push_back(matmul_case(0, 1, 6, 7, false, false));  // one row
  cases.push_back(matmul_case(0, 5, 1, 6, false, true));   // one column
  cases.push_back(matmul_case(0, 4, 6, 1, true, false));   // k = 1: outer product
  cases.push_back(matmul_case(1, 3, 4, 2, false, true));   // batch of one
  // Split-K on a small product (batch 1, one 64x64 tile, k >= 128): scalar
  // loads (n = 6, odd k) and 16-byte loads with a float4 epilogue (n = 8, k = 256).
  cases.push_back(matmul_case(0, 5, 6, 200, false, false));
  cases.push_back(matmul_case(0, 5, 6, 203, true, true));
  cases.push_back(matmul_case(0, 3, 8, 256, false, false));
  cases.push_back(matmul_case(0, 3, 8, 256, true, false));
  cases.push_back(matmul_case(0, 13, 7, 33, false, false));  // odd everywhere
  cases.push_back(matmul_case(0, 13, 7, 33, true, true));
  cases.push_back(matmul_case(2, 8, 12, 16, false, false));  // batched, 16-byte loads, float4 epilogue
  for (bool bias : {true, false}) {
    cases.push_back(linear_case(4, 3, 5, bias));
    cases.push_back(linear_case(1, 7, 1, bias));    // batch 1, one output
    cases.push_back(linear_case(9, 12, 10, bias));  // features not a multiple of 4 on the output side
  }
  cases.push_back(linear_case(3, 130, 4, true));  // split-K forward, long bias-gradient columns of 3

  // Parity only. Odd sizes across the 64x64x16 tiles' edges; 130x129x7's
  // backward GEMMs (k = 129, 130) split k.
  const size_t first = cases.size();
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true}) cases.push_back(matmul_case(0, 33, 65, 17, trans_a, trans_b));
  cases.push_back(matmul_case(0, 130, 129, 7, false, false));
  cases.push_back(matmul_case(0, 130, 129, 7, true, true));
  // 128x128 tiles with 16-byte loads: 12 x 12 tiles fill an H100's 132 SMs.
  // The backward GEMMs (k = 1536, few tiles) take the split-K path.
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true}) cases.push_back(matmul_case(0, 1536, 1536, 64, trans_a, trans_b));
  // Batched 128x128 edge tiles (260 = 2 * 128 + 4, 250 = 128 + 122) with scalar loads (k = 33 is odd).
  cases.push_back(matmul_case(40, 260, 250, 33, false, false));
  cases.push_back(matmul_case(40, 260, 250, 33, true, true));
  // Small 64x64 tiles, batched (no split-K), odd sizes.
  cases.push_back(matmul_case(3, 257, 511, 130, false, true));
  // ResNet-18's classifier at batch 128: split-K forward and weight gradient.
  cases.push_back(linear_case(128, 512, 100, true));
  cases.push_back(linear_case(1, 4096, 1000, true));  // one row, long k: many splits
  // More than 65535 batch entries: the launches are cut along gridDim.z.
  cases.push_back(matmul_case(65537, 2, 3, 4, false, false));
  // Empty products: k = 0 (C = 0, gradients empty), m = 0, a batch of 0, a linear layer over 0 rows.
  cases.push_back(matmul_case(0, 3, 4, 0, false, false));
  cases.push_back(matmul_case(0, 0, 4, 5, false, true));
  cases.push_back(matmul_case(0, 5, 0, 3, true, false));
  cases.push_back({"matmul NN m=3 n=4 k=5 batch of 0", normal_inputs({{0, 3, 5}, {0, 5, 4}}),
                   [](auto& in) { return matmul(in[0], in[1]); }});
  cases.push_back(linear_case(0, 3, 5, true));
  for (size_t i = first; i < cases.size(); ++i) cases[i].parity_only = true;
  // Misaligned operands of aligned shapes: the scalar loads, with and without split-K.
  cases.push_back(unaligned(matmul_case(0, 8, 8, 8, false, false)));
  cases.push_back(unaligned(matmul_case(0, 3, 8, 256, false, true)));
  cases.push_back(unaligned(linear_case(4, 8, 12, true)));
  // NaN, +Inf, -Inf in both operands (and the bias): in the forward and both backward GEMMs.
  cases.push_back(non_finite(matmul_case(0, 4, 6, 5, false, false), 6));
  cases.push_back(non_finite(matmul_case(0, 3, 8, 256, false, false), 300));  // through split-K
  cases.push_back(non_finite(matmul_case(2, 4, 5, 3, true, true), 4));
  cases.push_back(non_finite(linear_case(4, 6, 5, true), 2));
  return cases;
}

}  // namespace engram::testing
