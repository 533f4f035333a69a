#include "tests/cases/softmax.h"

#include "kernels/softmax.h"

namespace engram::testing {

namespace {

// Logits N(0, scale^2): a larger scale makes the rows peaked, as trained logits are.
MakeInputs logits(Shape shape, double scale) {
  return [shape, scale](DType dtype, Generator& gen) {
    return std::vector<Tensor>{random::normal(shape, 0.0, scale, gen, dtype).requires_grad_()};
  };
}

// softmax and log_softmax of one shape.
std::vector<OpCase> both(const Shape& shape, double scale, double parity_tolerance) {
  const std::string tag = " " + shape_str(shape) + " scale " + std::to_string(static_cast<int>(scale));
  OpCase soft{"softmax" + tag, logits(shape, scale), [](auto& in) { return softmax(in[0]); }};
  OpCase log_soft{"log_softmax" + tag, logits(shape, scale), [](auto& in) { return log_softmax(in[0]); }};
  soft.parity_tolerance = log_soft.parity_tolerance = parity_tolerance;
  return {soft, log_soft};
}

void add(std::vector<OpCase>& cases, std::vector<OpCase> more, OpCase (*mark)(OpCase) = nullptr) {
  for (OpCase& c : more) cases.push_back(mark ? mark(std::move(c)) : std::move(c));
}

OpCase mark_parity_only(OpCase c) { return parity_only(std::move(c)); }
OpCase mark_unaligned(OpCase c) { return unaligned(std::move(c)); }

}  // namespace

std::vector<OpCase> softmax_cases() {
  std::vector<OpCase> cases;
  // 1x1 (C = 1), one row, odd C, C = 8 (float4 rows on CUDA), C > 32 (several columns per lane).
  for (Shape s : {Shape{1, 1}, Shape{1, 5}, Shape{3, 7}, Shape{4, 8}, Shape{2, 33}, Shape{9, 100}})
    add(cases, both(s, 2.0, 1e-5));
  add(cases, both({3, 10}, 20.0, 1e-5));
  // C = 4: float4 rows narrower than a warp; 13 rows: a partial block; 127 columns: odd, 4 per lane;
  // 128: exactly one float4 per lane; one column over 7 rows.
  for (Shape s : {Shape{13, 4}, Shape{2, 127}, Shape{3, 128}, Shape{7, 1}}) add(cases, both(s, 2.0, 1e-5));

  // 130 and 257 rows leave the last block of 8 rows partly empty; 4100 is a long float4 row.
  for (Shape s : {Shape{130, 1000}, Shape{257, 37}, Shape{3, 4100}, Shape{1000, 10}, Shape{64, 4097}})
    add(cases, both(s, 3.0, 1e-5), mark_parity_only);
  add(cases, both({128, 100}, 1000.0, 1e-5), mark_parity_only);
  // C % 4 == 0 but misaligned rows: the scalar kernels.
  for (Shape s : {Shape{6, 8}, Shape{9, 100}}) add(cases, both(s, 2.0, 1e-5), mark_unaligned);
  // NaN in row 0, +Inf in row 1, -Inf in row 2.
  for (OpCase& c : both({4, 10}, 2.0, 1e-5)) cases.push_back(non_finite(std::move(c), 10));
  for (OpCase& c : both({3, 8}, 2.0, 1e-5)) cases.push_back(non_finite(std::move(c), 8));  // the float4 rows
  return cases;
}

}  // namespace engram::testing
