#include "tests/cases/elementwise.h"

#include "kernels/elementwise.h"

namespace engram::testing {

namespace {

// Values kept away from relu's kink at 0, where central differences are wrong.
std::function<std::vector<Tensor>(DType, Generator&)> away_from_zero(std::vector<Shape> shapes) {
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

}  // namespace

std::vector<OpCase> elementwise_cases() {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{1}, Shape{3, 5}, Shape{2, 3, 7, 7}, Shape{1, 1, 1, 1}}) {
    std::string tag = " " + shape_str(s);
    cases.push_back({"add" + tag, normal_inputs({s, s}), [](auto& in) { return add(in[0], in[1]); }});
    cases.push_back({"sub" + tag, normal_inputs({s, s}), [](auto& in) { return sub(in[0], in[1]); }});
    cases.push_back({"mul" + tag, normal_inputs({s, s}), [](auto& in) { return mul(in[0], in[1]); }});
    cases.push_back({"scale" + tag, normal_inputs({s}), [](auto& in) { return scale(in[0], -2.5); }});
    cases.push_back({"relu" + tag, away_from_zero({s}), [](auto& in) { return relu(in[0]); }});
    cases.push_back({"add_relu" + tag, away_from_zero({s, s}), [](auto& in) { return add_relu(in[0], in[1]); }});
  }
  return cases;
}

}  // namespace engram::testing
