#include "tests/cases/elementwise.h"

#include "kernels/elementwise.h"

namespace engram::testing {

namespace {

// Values kept away from relu's kink at 0, where central differences are wrong.
MakeInputs away_from_zero(std::vector<Shape> shapes) {
  return [shapes](DType dtype, Generator& gen) {
    std::vector<Tensor> inputs;
    for (const Shape& s : shapes) {
      Tensor t = random::normal(s, 0.0, 1.0, gen, DType::f64);
      double* p = t.data<double>();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] += p[i] >= 0 ? 0.1 : -0.1;
      inputs.push_back(t.to(dtype).requires_grad_());
    }
    return inputs;
  };
}

// The six ops on one shape.
std::vector<OpCase> ops_on(const Shape& s) {
  const std::string tag = " " + shape_str(s);
  return {
      {"add" + tag, normal_inputs({s, s}), [](auto& in) { return add(in[0], in[1]); }},
      {"sub" + tag, normal_inputs({s, s}), [](auto& in) { return sub(in[0], in[1]); }},
      {"mul" + tag, normal_inputs({s, s}), [](auto& in) { return mul(in[0], in[1]); }},
      {"scale" + tag, normal_inputs({s}), [](auto& in) { return scale(in[0], -2.5); }},
      {"relu" + tag, away_from_zero({s}), [](auto& in) { return relu(in[0]); }},
      {"add_relu" + tag, away_from_zero({s, s}), [](auto& in) { return add_relu(in[0], in[1]); }},
  };
}

}  // namespace

std::vector<OpCase> elementwise_cases() {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{1}, Shape{3, 5}, Shape{2, 3, 7, 7}, Shape{1, 1, 1, 1}, Shape{7}, Shape{13}, Shape{33},
                  Shape{127}, Shape{2, 1, 3}})
    for (OpCase& c : ops_on(s)) cases.push_back(std::move(c));
  // A batch of 0: every kernel gets n = 0.
  for (OpCase& c : ops_on({0, 5})) cases.push_back(parity_only(std::move(c)));
  // NaN, +Inf, -Inf in every input (mul: Inf * finite, relu: relu(NaN)).
  for (OpCase& c : ops_on({3, 7})) cases.push_back(non_finite(std::move(c)));
  return cases;
}

}  // namespace engram::testing
