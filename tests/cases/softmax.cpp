#include "tests/cases/softmax.h"

#include "kernels/softmax.h"

namespace engram::testing {

namespace {

// Logits N(0, scale^2): a larger scale makes the rows peaked, as trained logits are.
std::function<std::vector<Tensor>(DType, Generator&)> logits(Shape shape, double scale) {
  return [shape, scale](DType dtype, Generator& gen) {
    return std::vector<Tensor>{random::normal(shape, 0.0, scale, gen, dtype).requires_grad_()};
  };
}

void add_both(std::vector<OpCase>& cases, const Shape& shape, double scale, double parity_tolerance) {
  const std::string tag = " " + shape_str(shape) + " scale " + std::to_string(static_cast<int>(scale));
  OpCase soft{"softmax" + tag, logits(shape, scale), [](auto& in) { return softmax(in[0]); }};
  OpCase log_soft{"log_softmax" + tag, logits(shape, scale), [](auto& in) { return log_softmax(in[0]); }};
  soft.parity_tolerance = log_soft.parity_tolerance = parity_tolerance;
  cases.push_back(soft);
  cases.push_back(log_soft);
}

}  // namespace

std::vector<OpCase> softmax_cases() {
  std::vector<OpCase> cases;
  // 1x1 (C = 1), one row, odd C, C = 8 (float4 rows on CUDA), C > 32 (several columns per lane).
  for (Shape s : {Shape{1, 1}, Shape{1, 5}, Shape{3, 7}, Shape{4, 8}, Shape{2, 33}, Shape{9, 100}})
    add_both(cases, s, 2.0, 1e-5);
  add_both(cases, {3, 10}, 20.0, 1e-5);
  return cases;
}

std::vector<OpCase> softmax_large_cases() {
  std::vector<OpCase> cases;
  // 130 and 257 rows leave the last block of 8 rows partly empty; 4100 is a long float4 row.
  for (Shape s : {Shape{130, 1000}, Shape{257, 37}, Shape{3, 4100}, Shape{1000, 10}, Shape{64, 4097}})
    add_both(cases, s, 3.0, 1e-5);
  add_both(cases, {128, 100}, 1000.0, 1e-5);
  return cases;
}

}  // namespace engram::testing
