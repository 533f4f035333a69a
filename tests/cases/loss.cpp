#include "tests/cases/loss.h"

#include <sstream>

#include "kernels/loss.h"

namespace engram::testing {

namespace {

// How the teacher logits enter a softmax loss: absent, constant (offline KD,
// no gradient), or trainable (mutual learning, gradient checked too).
enum class Teacher { none, frozen, trainable };

const char* teacher_name(Teacher t) {
  return t == Teacher::none ? "no teacher" : t == Teacher::frozen ? "frozen teacher" : "trainable teacher";
}

const char* reduction_name(Reduction r) {
  return r == Reduction::none ? "none" : r == Reduction::mean ? "mean" : "sum";
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string tag(const Shape& shape, Reduction r) { return " " + shape_str(shape) + " " + reduction_name(r); }

// Inputs in this order: student logits, then labels (i32) if with_labels,
// then teacher logits unless Teacher::none. Logits are N(0, scale^2).
MakeInputs softmax_loss_inputs(Shape shape, bool with_labels, Teacher teacher, double scale = 2.0) {
  return [=](DType dtype, Generator& gen) {
    std::vector<Tensor> in{random::normal(shape, 0.0, scale, gen, dtype).requires_grad_()};
    if (with_labels) in.push_back(random::randint({shape[0]}, 0, static_cast<int32_t>(shape[1]), gen));
    if (teacher != Teacher::none) {
      Tensor t = random::normal(shape, 0.0, scale, gen, dtype);
      in.push_back(teacher == Teacher::trainable ? t.requires_grad_() : t);
    }
    return in;
  };
}

OpCase with_tolerance(OpCase c, double parity_tolerance) {
  c.parity_tolerance = parity_tolerance;
  return c;
}

void add_cross_entropy(std::vector<OpCase>& cases, const Shape& s, Reduction r, double smoothing, double tol,
                       double scale = 2.0) {
  cases.push_back(with_tolerance(
      {"cross_entropy" + tag(s, r) + " smoothing " + num(smoothing), softmax_loss_inputs(s, true, Teacher::none, scale),
       [r, smoothing](auto& in) { return cross_entropy(in[0], in[1], r, smoothing); }},
      tol));
}

void add_kl(std::vector<OpCase>& cases, const Shape& s, Reduction r, double T, Teacher teacher, double tol) {
  cases.push_back(with_tolerance({"kl_div_with_temperature" + tag(s, r) + " T " + num(T) + " " + teacher_name(teacher),
                                  softmax_loss_inputs(s, false, teacher),
                                  [r, T](auto& in) { return kl_div_with_temperature(in[0], in[1], T, r); }},
                                 tol));
}

void add_compat(std::vector<OpCase>& cases, const Shape& s, double T, Teacher teacher, double tol) {
  cases.push_back(with_tolerance(
      {"kl_div_reference_compat " + shape_str(s) + " T " + num(T) + " " + teacher_name(teacher),
       softmax_loss_inputs(s, false, teacher), [T](auto& in) { return kl_div_reference_compat(in[0], in[1], T); }},
      tol));
}

void add_distill(std::vector<OpCase>& cases, const Shape& s, Reduction r, Teacher teacher, double alpha, double T,
                 double smoothing, KLForm form, double tol) {
  std::string name = "distill_loss" + tag(s, r) + " alpha " + num(alpha) + " T " + num(T) + " smoothing " +
                     num(smoothing) + " " + teacher_name(teacher) +
                     (form == KLForm::reference_compat ? " reference_compat" : "");
  cases.push_back(with_tolerance({name, softmax_loss_inputs(s, true, teacher),
                                  [=](auto& in) {
                                    Tensor t = teacher == Teacher::none ? Tensor() : in[2];
                                    return distill_loss(in[0], in[1], t, alpha, T, smoothing, r, form);
                                  }},
                                 tol));
}

// a requires grad; b too unless frozen_b (a target such as teacher features).
MakeInputs pair_inputs(Shape shape, bool frozen_b) {
  return [=](DType dtype, Generator& gen) {
    Tensor a = random::normal(shape, 0.0, 1.0, gen, dtype).requires_grad_();
    Tensor b = random::normal(shape, 0.0, 1.0, gen, dtype);
    return std::vector<Tensor>{a, frozen_b ? b : b.requires_grad_()};
  };
}

void add_mse(std::vector<OpCase>& cases, const Shape& s, Reduction r, bool frozen_b, double tol) {
  cases.push_back(with_tolerance({"mse_loss" + tag(s, r) + (frozen_b ? " frozen b" : ""), pair_inputs(s, frozen_b),
                                  [r](auto& in) { return mse_loss(in[0], in[1], r); }},
                                 tol));
}

void add_l2(std::vector<OpCase>& cases, const Shape& s, bool frozen_b, double tol) {
  cases.push_back(with_tolerance({"l2_distance " + shape_str(s) + (frozen_b ? " frozen b" : ""),
                                  pair_inputs(s, frozen_b), [](auto& in) { return l2_distance(in[0], in[1]); }},
                                 tol));
}

const Reduction kReductions[] = {Reduction::none, Reduction::mean, Reduction::sum};

// Parity tolerances (normalised error, atol = rtol): the CE and the squared
// errors are one f32 log-sum-exp or sum away from the reference; the KL terms
// subtract log-sum-exps of similar size and are scaled by T^2, hence looser.
constexpr double kCrossEntropyTolerance = 1e-5;
constexpr double kKLTolerance = 1e-4;
constexpr double kSquaredErrorTolerance = 1e-5;

// Applies `mark` to the cases from index `first` on.
void mark_from(std::vector<OpCase>& cases, size_t first, OpCase (*mark)(OpCase)) {
  for (size_t i = first; i < cases.size(); ++i) cases[i] = mark(std::move(cases[i]));
}

OpCase mark_parity_only(OpCase c) { return parity_only(std::move(c)); }
OpCase mark_unaligned(OpCase c) { return unaligned(std::move(c)); }

}  // namespace

std::vector<OpCase> loss_cases() {
  std::vector<OpCase> cases;
  // C = 1 and 2, batch 1, odd C, C = 8 (float4 rows on CUDA), C > 32.
  const Shape shapes[] = {{1, 1}, {1, 2}, {5, 7}, {4, 8}, {3, 40}};
  for (const Shape& s : shapes)
    for (Reduction r : kReductions)
      for (double smoothing : {0.0, 0.1}) add_cross_entropy(cases, s, r, smoothing, kCrossEntropyTolerance);

  for (const Shape& s : shapes) {
    for (Reduction r : kReductions)
      for (double T : {1.0, 3.0}) add_kl(cases, s, r, T, Teacher::frozen, kKLTolerance);
    add_kl(cases, s, Reduction::mean, 3.0, Teacher::trainable, kKLTolerance);
    add_kl(cases, s, Reduction::none, 1.0, Teacher::trainable, kKLTolerance);
    for (double T : {1.0, 3.0})
      for (Teacher t : {Teacher::frozen, Teacher::trainable}) add_compat(cases, s, T, t, kKLTolerance);
  }

  for (const Shape& s : shapes)
    for (Reduction r : kReductions)
      for (Teacher t : {Teacher::none, Teacher::frozen, Teacher::trainable})
        add_distill(cases, s, r, t, 0.3, 3.0, 0.1, KLForm::standard, kKLTolerance);
  // Edges of alpha, no smoothing, T = 1, and the reference's KL form.
  add_distill(cases, {5, 7}, Reduction::mean, Teacher::trainable, 0.0, 3.0, 0.0, KLForm::standard, kKLTolerance);
  add_distill(cases, {5, 7}, Reduction::mean, Teacher::trainable, 1.0, 1.0, 0.0, KLForm::standard, kKLTolerance);
  add_distill(cases, {5, 7}, Reduction::sum, Teacher::trainable, 0.3, 3.0, 0.1, KLForm::reference_compat, kKLTolerance);
  add_distill(cases, {4, 8}, Reduction::none, Teacher::frozen, 0.5, 2.0, 0.2, KLForm::reference_compat, kKLTolerance);
  // 13 rows of C = 4: float4 rows narrower than a warp, a partly empty block of
  // 8 rows; C = 129: odd, several columns per lane.
  for (const Shape& s : {Shape{13, 4}, Shape{9, 129}}) {
    add_cross_entropy(cases, s, Reduction::mean, 0.1, kCrossEntropyTolerance);
    add_kl(cases, s, Reduction::none, 3.0, Teacher::trainable, kKLTolerance);
    add_distill(cases, s, Reduction::sum, Teacher::trainable, 0.3, 3.0, 0.1, KLForm::standard, kKLTolerance);
    add_compat(cases, s, 3.0, Teacher::frozen, kKLTolerance);
  }

  for (Shape s : {Shape{1}, Shape{3, 5}, Shape{2, 3, 7, 7}}) {
    for (Reduction r : kReductions) add_mse(cases, s, r, false, kSquaredErrorTolerance);
    add_mse(cases, s, Reduction::mean, true, kSquaredErrorTolerance);
    add_l2(cases, s, false, kSquaredErrorTolerance);
    add_l2(cases, s, true, kSquaredErrorTolerance);
  }
  // 31 float4 and a tail of 3; 33 = 8 float4 and a tail of 1.
  for (Shape s : {Shape{127}, Shape{3, 11}}) {
    add_mse(cases, s, Reduction::sum, false, kSquaredErrorTolerance);
    add_mse(cases, s, Reduction::none, true, kSquaredErrorTolerance);
    add_l2(cases, s, false, kSquaredErrorTolerance);
  }

  // Parity only. 130 and 257 rows leave the last block of 8 rows partly
  // empty; C = 37 takes the scalar path, C = 100 / 1000 the float4 path.
  size_t first = cases.size();
  for (Reduction r : kReductions) {
    add_cross_entropy(cases, {130, 1000}, r, 0.1, kCrossEntropyTolerance);
    add_cross_entropy(cases, {257, 37}, r, 0.0, kCrossEntropyTolerance);
    add_kl(cases, {130, 100}, r, 3.0, Teacher::trainable, kKLTolerance);
    add_distill(cases, {128, 100}, r, Teacher::frozen, 0.3, 3.0, 0.1, KLForm::standard, kKLTolerance);
    add_distill(cases, {130, 1000}, r, Teacher::trainable, 0.3, 3.0, 0.0, KLForm::standard, kKLTolerance);
    add_distill(cases, {257, 37}, r, Teacher::none, 0.3, 3.0, 0.1, KLForm::standard, kKLTolerance);
    add_distill(cases, {128, 200}, r, Teacher::trainable, 0.3, 3.0, 0.1, KLForm::reference_compat, kKLTolerance);
  }
  add_kl(cases, {257, 37}, Reduction::none, 1.0, Teacher::frozen, kKLTolerance);
  add_compat(cases, {130, 1000}, 3.0, Teacher::trainable, kKLTolerance);
  add_compat(cases, {257, 37}, 1.0, Teacher::frozen, kKLTolerance);
  add_cross_entropy(cases, {64, 10}, Reduction::mean, 0.1, kCrossEntropyTolerance, 1000.0);  // huge logits

  // 65536 elements: 16 partial sums; 100003: odd, scalar tail; [3, 7, 7, 5]: one block.
  for (Shape s : {Shape{128, 512}, Shape{100003}, Shape{3, 7, 7, 5}}) {
    for (Reduction r : kReductions) add_mse(cases, s, r, false, kSquaredErrorTolerance);
    add_l2(cases, s, false, kSquaredErrorTolerance);
    add_l2(cases, s, true, kSquaredErrorTolerance);
  }
  mark_from(cases, first, mark_parity_only);

  // C % 4 == 0 on misaligned rows: the scalar row kernels; squared errors with
  // no float4 prefix (one block, and several partial sums).
  first = cases.size();
  add_cross_entropy(cases, {6, 8}, Reduction::sum, 0.1, kCrossEntropyTolerance);
  add_distill(cases, {6, 8}, Reduction::none, Teacher::trainable, 0.3, 3.0, 0.1, KLForm::standard, kKLTolerance);
  add_compat(cases, {6, 8}, 3.0, Teacher::trainable, kKLTolerance);
  add_mse(cases, {4, 999}, Reduction::sum, false, kSquaredErrorTolerance);
  add_l2(cases, {4, 999}, false, kSquaredErrorTolerance);
  add_mse(cases, {8, 1024}, Reduction::mean, false, kSquaredErrorTolerance);
  mark_from(cases, first, mark_unaligned);

  // NaN in row 0, +Inf in row 1, -Inf in row 2 of the student's logits, the
  // teacher's, or both; NaN, +Inf, -Inf at elements 0, 5, 10 of one squared-error operand.
  auto poison_from = [&cases](size_t from, int64_t spacing, std::vector<size_t> only) {
    for (size_t i = from; i < cases.size(); ++i) cases[i] = non_finite(std::move(cases[i]), spacing, only);
  };
  first = cases.size();
  add_cross_entropy(cases, {5, 7}, Reduction::none, 0.1, kCrossEntropyTolerance);
  add_kl(cases, {5, 7}, Reduction::none, 3.0, Teacher::trainable, kKLTolerance);
  poison_from(first, 7, {});
  first = cases.size();
  add_compat(cases, {5, 7}, 3.0, Teacher::trainable, kKLTolerance);
  poison_from(first, 7, {1});
  first = cases.size();
  add_cross_entropy(cases, {5, 8}, Reduction::mean, 0.0, kCrossEntropyTolerance);  // float4 rows
  add_distill(cases, {5, 8}, Reduction::none, Teacher::trainable, 0.3, 3.0, 0.1, KLForm::standard, kKLTolerance);
  poison_from(first, 8, {0});
  first = cases.size();
  add_mse(cases, {3, 11}, Reduction::none, false, kSquaredErrorTolerance);
  add_mse(cases, {127}, Reduction::sum, false, kSquaredErrorTolerance);
  poison_from(first, 5, {0});
  first = cases.size();
  add_l2(cases, {127}, true, kSquaredErrorTolerance);
  poison_from(first, 5, {1});
  return cases;
}

}  // namespace engram::testing
