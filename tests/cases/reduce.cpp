#include "tests/cases/reduce.h"

#include "kernels/reduce.h"

namespace engram::testing {

namespace {

// Integer-valued inputs in [0, range): many exact ties for max and argmax.
MakeInputs tied_inputs(Shape shape, int32_t range) {
  return [shape, range](DType dtype, Generator& gen) {
    return std::vector<Tensor>{random::randint(shape, 0, range, gen).to(dtype).requires_grad_()};
  };
}

// Logits [rows, classes] (normal, or integer-valued with ties) and labels
// that are right for about half of the rows; a few labels are out of range.
MakeInputs classifier_inputs(int64_t rows, int64_t classes, bool ties) {
  return [rows, classes, ties](DType dtype, Generator& gen) {
    Tensor logits = ties ? random::randint({rows, classes}, 0, 3, gen).to(dtype)
                         : random::normal({rows, classes}, 0.0, 1.0, gen, dtype);
    std::vector<int32_t> best = argmax(logits, 1).to_vector<int32_t>();
    std::vector<int32_t> noise = random::randint({rows}, 0, static_cast<int32_t>(classes), gen).to_vector<int32_t>();
    std::vector<int32_t> labels(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) labels[r] = r % 2 == 0 ? best[r] : noise[r];
    if (rows > 7) labels[3] = -1, labels[5] = static_cast<int32_t>(classes);
    return std::vector<Tensor>{logits, Tensor::from_vector(labels, {rows})};
  };
}

// Uniform draws in [-1, 1): five times cheaper than normal ones on the host,
// for the cases with millions of elements.
MakeInputs uniform_inputs(Shape shape) {
  return [shape](DType dtype, Generator& gen) {
    return std::vector<Tensor>{random::uniform(shape, -1.0, 1.0, gen, dtype).requires_grad_()};
  };
}

OpCase not_differentiable(OpCase c) {
  c.check_gradients = false;
  c.parity_tolerance = 1e-6;  // indices and counts must agree exactly
  return c;
}

// sum, mean, max and argmax of a tensor along every dimension (and sum and
// mean of all of it), with the builder `inputs`.
void add_along_every_dim(std::vector<OpCase>& cases, const Shape& s, const std::string& label,
                         const MakeInputs& inputs) {
  std::string tag = " " + shape_str(s) + label;
  cases.push_back({"sum all" + tag, inputs, [](auto& in) { return sum(in[0]); }});
  cases.push_back({"mean all" + tag, inputs, [](auto& in) { return mean(in[0]); }});
  int64_t rank = static_cast<int64_t>(s.size());
  for (int64_t d = -1; d < rank; ++d) {
    std::string at = " " + shape_str(s) + " dim " + std::to_string(d) + label;
    bool keep = d % 2 == 0;
    cases.push_back({"sum" + at, inputs, [d, keep](auto& in) { return sum(in[0], d, keep); }});
    cases.push_back({"mean" + at, inputs, [d, keep](auto& in) { return mean(in[0], d, !keep); }});
    // Normal draws are distinct, far apart compared with the 1e-6 step.
    cases.push_back({"max" + at, inputs, [d, keep](auto& in) { return max(in[0], d, keep); }});
    cases.push_back(not_differentiable({"argmax" + at, inputs, [d](auto& in) { return argmax(in[0], d); }}));
  }
}

// A tensor with an empty dimension `empty_dim` (the other one non-empty):
// sum and mean over both dimensions and all of it (0, NaN for the mean of
// nothing), max and argmax over the non-empty one.
void add_empty(std::vector<OpCase>& cases, const Shape& s, int64_t empty_dim) {
  const std::string tag = " " + shape_str(s);
  const int64_t other = 1 - empty_dim;
  cases.push_back({"sum all" + tag, normal_inputs({s}), [](auto& in) { return sum(in[0]); }});
  cases.push_back({"mean all" + tag, normal_inputs({s}), [](auto& in) { return mean(in[0]); }});
  for (int64_t d : {int64_t{0}, int64_t{1}}) {
    std::string at = tag + " dim " + std::to_string(d);
    cases.push_back({"sum" + at, normal_inputs({s}), [d](auto& in) { return sum(in[0], d); }});
    cases.push_back({"mean" + at, normal_inputs({s}), [d](auto& in) { return mean(in[0], d, true); }});
  }
  std::string at = tag + " dim " + std::to_string(other);
  cases.push_back({"max" + at, normal_inputs({s}), [other](auto& in) { return max(in[0], other); }});
  cases.push_back(
      not_differentiable({"argmax" + at, normal_inputs({s}), [other](auto& in) { return argmax(in[0], other); }}));
}

}  // namespace

std::vector<OpCase> reduce_cases() {
  std::vector<OpCase> cases;
  // 33-element rows: a warp and one more; [127, 3] dim 0: columns with 3 of a
  // tile's 32 positions; [2, 1, 5] dim 1: a column of one; [13, 33] dim 0:
  // 13 rows split over 8 thread rows.
  for (Shape s : {Shape{1}, Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 7, 7}, Shape{2, 5, 3}, Shape{7}, Shape{13, 33},
                  Shape{127, 3}, Shape{2, 1, 5}})
    add_along_every_dim(cases, s, "", normal_inputs({s}));
  cases.push_back(not_differentiable({"count_correct [16, 10]", classifier_inputs(16, 10, false),
                                      [](auto& in) { return count_correct(in[0], in[1]); }}));
  cases.push_back(not_differentiable({"count_correct ties [16, 3]", classifier_inputs(16, 3, true),
                                      [](auto& in) { return count_correct(in[0], in[1]); }}));

  // Parity only from here on.
  const size_t first = cases.size();
  auto sum_all = [](auto& in) { return sum(in[0]); };
  auto mean_all = [](auto& in) { return mean(in[0]); };
  // Whole tensors: split over blocks, float4 loads (numel % 4 == 0) or not.
  cases.push_back({"sum all [1000, 301]", normal_inputs({{1000, 301}}), sum_all, 1e-6, 1e-4});
  cases.push_back({"sum all [7, 30011]", normal_inputs({{7, 30011}}), sum_all, 1e-6, 1e-4});
  cases.push_back({"mean all [3, 4097]", normal_inputs({{3, 4097}}), mean_all, 1e-6, 1e-4});
  cases.push_back({"mean all [64, 3, 32, 32]", normal_inputs({{64, 3, 32, 32}}), mean_all, 1e-6, 1e-4});
  // Along a dimension: every kernel of kernels/cuda/reduce.cu.
  struct Along {
    Shape shape;
    int64_t dim;
  };
  for (Along a :
       {Along{{300, 100}, -1}, Along{{3, 70001}, 1}, Along{{2, 8192}, 1}, Along{{5000, 3}, 0}, Along{{4, 300, 37}, 1},
        Along{{70000, 1}, 0}, Along{{128, 64, 7, 7}, 1}, Along{{1, 4097}, 1}, Along{{33, 1, 5}, 1}}) {
    std::string at = " " + shape_str(a.shape) + " dim " + std::to_string(a.dim);
    int64_t d = a.dim;
    cases.push_back({"sum" + at, normal_inputs({a.shape}), [d](auto& in) { return sum(in[0], d); }, 1e-6, 1e-4});
    cases.push_back(
        {"mean" + at, normal_inputs({a.shape}), [d](auto& in) { return mean(in[0], d, true); }, 1e-6, 1e-4});
    cases.push_back({"max" + at, normal_inputs({a.shape}), [d](auto& in) { return max(in[0], d); }, 1e-6, 1e-6});
    cases.push_back(
        not_differentiable({"argmax" + at, normal_inputs({a.shape}), [d](auto& in) { return argmax(in[0], d); }}));
    cases.push_back(
        not_differentiable({"argmax ties" + at, tied_inputs(a.shape, 3), [d](auto& in) { return argmax(in[0], d); }}));
    // max's gradient with ties goes to the first maximum on both devices.
    cases.push_back({"max ties" + at, tied_inputs(a.shape, 3), [d](auto& in) { return max(in[0], d); }, 1e-6, 1e-6});
  }
  // Grids larger than the 65535 blocks launched: the kernels' block loops. And
  // long rows numerous enough to get one block each (no second pass).
  for (Along a : {Along{{600000, 2}, 1}, Along{{70000, 2, 3}, 1}}) {
    std::string at = " " + shape_str(a.shape) + " dim " + std::to_string(a.dim);
    int64_t d = a.dim;
    cases.push_back({"sum" + at, uniform_inputs(a.shape), [d](auto& in) { return sum(in[0], d); }, 1e-6, 1e-4});
    cases.push_back({"max" + at, uniform_inputs(a.shape), [d](auto& in) { return max(in[0], d); }, 1e-6, 1e-6});
  }
  cases.push_back(
      {"sum [2049, 4100] dim 1", uniform_inputs({2049, 4100}), [](auto& in) { return sum(in[0], 1); }, 1e-6, 1e-4});
  cases.push_back(
      {"mean [2049, 4097] dim -1", uniform_inputs({2049, 4097}), [](auto& in) { return mean(in[0], -1); }, 1e-6, 1e-4});
  auto count = [](auto& in) { return count_correct(in[0], in[1]); };
  cases.push_back(not_differentiable({"count_correct [128, 100]", classifier_inputs(128, 100, false), count}));
  cases.push_back(not_differentiable({"count_correct ties [1000, 7]", classifier_inputs(1000, 7, true), count}));
  cases.push_back(not_differentiable({"count_correct [3, 5000]", classifier_inputs(3, 5000, false), count}));
  cases.push_back(not_differentiable({"count_correct [20000, 10]", classifier_inputs(20000, 10, false), count}));
  cases.push_back(not_differentiable({"count_correct [0, 10]", classifier_inputs(0, 10, false), count}));
  // Empty tensors: a batch of 0 rows, and rows of length 0.
  add_empty(cases, {0, 4}, 0);
  add_empty(cases, {3, 0}, 1);
  // Misaligned inputs whose lengths allow float4 slices: the scalar slice kernel.
  cases.push_back(unaligned(
      {"sum [3, 8192] dim 1", normal_inputs({{3, 8192}}), [](auto& in) { return sum(in[0], 1); }, 1e-6, 1e-4}));
  cases.push_back(unaligned({"mean all [4100]", normal_inputs({{4100}}), mean_all, 1e-6, 1e-4}));
  // NaN, +Inf, -Inf: in different rows for the rows kernel ([4, 9] dim 1) and
  // in different columns for the columns kernel (dim 0); along one long row
  // ([2, 5000]: the slice kernel); in one [9, 3, 5] dim 1 column each.
  for (OpCase& c : [] {
         std::vector<OpCase> v;
         add_along_every_dim(v, {4, 9}, "", normal_inputs({{4, 9}}));
         return v;
       }())
    cases.push_back(non_finite(std::move(c), 10));
  cases.push_back(non_finite(
      {"sum [2, 5000] dim 1", normal_inputs({{2, 5000}}), [](auto& in) { return sum(in[0], 1); }, 1e-6, 1e-4}, 1000));
  cases.push_back(non_finite(
      {"mean all [2, 5000]", normal_inputs({{2, 5000}}), [](auto& in) { return mean(in[0]); }, 1e-6, 1e-4}, 1000));
  cases.push_back(non_finite(
      {"max [2, 5000] dim 1", normal_inputs({{2, 5000}}), [](auto& in) { return max(in[0], 1); }, 1e-6, 1e-6}, 1000));
  cases.push_back(non_finite(not_differentiable({"argmax [2, 5000] dim 1", normal_inputs({{2, 5000}}),
                                                 [](auto& in) { return argmax(in[0], 1); }}),
                             1000));
  for (OpCase c : {OpCase{"sum [9, 3, 5] dim 1", normal_inputs({{9, 3, 5}}), [](auto& in) { return sum(in[0], 1); }},
                   OpCase{"max [9, 3, 5] dim 1", normal_inputs({{9, 3, 5}}), [](auto& in) { return max(in[0], 1); }},
                   not_differentiable({"argmax [9, 3, 5] dim 1", normal_inputs({{9, 3, 5}}),
                                       [](auto& in) { return argmax(in[0], 1); }})})
    cases.push_back(non_finite(std::move(c), 16));
  for (size_t i = first; i < cases.size(); ++i) cases[i].parity_only = true;
  return cases;
}

}  // namespace engram::testing
