#include "kernels/loss.h"

#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "kernels/dispatch.h"

namespace engram {

namespace {

std::string number(double value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

double reduction_scale(Reduction reduction, int64_t count) {
  return reduction == Reduction::mean ? 1.0 / static_cast<double>(count) : 1.0;
}

// ---- argument checks: each message starts with the op's name ----

void check_logits(const char* op, const char* name, const Tensor& logits) {
  check_dim(op, name, logits, 2, "[N, C]");
  check_floating(op, name, logits);
  ENGRAM_CHECK(logits.size(0) >= 1 && logits.size(1) >= 1, ShapeError, op,
               std::string(name) + " must have at least one row and one class, got shape " + shape_str(logits.shape()));
}

void check_teacher(const char* op, const Tensor& student, const Tensor& teacher) {
  check_logits(op, "teacher_logits", teacher);
  check_same_device(op, student, teacher);
  check_same_dtype(op, student, teacher);
  ENGRAM_CHECK(student.shape() == teacher.shape(), ShapeError, op,
               "teacher_logits must have the shape of student_logits " + shape_str(student.shape()) + ", got " +
                   shape_str(teacher.shape()));
}

// Labels must be i32 [N] on the logits' device; on the CPU their range is
// checked too (on CUDA that would need a host sync: the kernel writes NaN instead).
void check_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  check_dtype(op, "labels", labels, DType::i32);
  check_same_device(op, logits, labels);
  const int64_t rows = logits.size(0), classes = logits.size(1);
  ENGRAM_CHECK(labels.dim() == 1 && labels.size(0) == rows, ShapeError, op,
               "labels must be 1-D [N] with N = " + std::to_string(rows) + " (the rows of the logits), got shape " +
                   shape_str(labels.shape()));
  if (!labels.device().is_cpu()) return;
  const int32_t* y = labels.data<int32_t>();
  for (int64_t i = 0; i < rows; ++i)
    ENGRAM_CHECK(y[i] >= 0 && y[i] < classes, ValueError, op,
                 "label " + std::to_string(y[i]) + " in row " + std::to_string(i) + " is outside [0, " +
                     std::to_string(classes) + ")");
}

void check_temperature(const char* op, double temperature) {
  ENGRAM_CHECK(temperature > 0 && std::isfinite(temperature), ValueError, op,
               "temperature must be a finite number > 0, got " + number(temperature));
}

void check_unit_interval(const char* op, const char* name, double value) {
  ENGRAM_CHECK(value >= 0 && value <= 1, ValueError, op,
               std::string(name) + " must be in [0, 1], got " + number(value));
}

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_floating(op, "a", a);
  check_floating(op, "b", b);
  check_same_device(op, a, b);
  check_same_dtype(op, a, b);
  check_same_shape(op, a, b);
  ENGRAM_CHECK(a.numel() >= 1, ShapeError, op, "expected at least one element, got shape " + shape_str(a.shape()));
}

// ---- shared implementation ----

Tensor sum_scaled([[maybe_unused]] const char* op, const Tensor& values, double scale) {
  Tensor out = Tensor::empty({}, values.dtype(), values.device());
  ENGRAM_DISPATCH(loss, op, values, sum_scaled, values, scale, out);
  return out;
}

// Runs the fused row loss, reduces it, and records one node whose backward
// is one backend call writing the closed-form gradients.
Tensor softmax_loss(const char* op, const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                    const Tensor& teacher, Reduction reduction) {
  const int64_t rows = student.size(0);
  Tensor row_loss = Tensor::empty({rows}, student.dtype(), student.device());
  ENGRAM_DISPATCH(loss, op, student, softmax_loss_forward, spec, student, labels, teacher, row_loss);
  const double scale = reduction_scale(reduction, rows);
  Tensor out = reduction == Reduction::none ? row_loss : sum_scaled(op, row_loss, scale);

  const bool student_grad = student.requires_grad();
  const bool teacher_grad = teacher.defined() && teacher.requires_grad();
  Tensor student_saved = student.detach();
  Tensor teacher_saved = teacher.defined() ? teacher.detach() : Tensor();
  return autograd::record(op, out, {student, teacher}, [=](const Tensor& grad_out) {
    Tensor grad_student = student_grad ? Tensor::empty_like(student_saved) : Tensor();
    Tensor grad_teacher = teacher_grad ? Tensor::empty_like(teacher_saved) : Tensor();
    ENGRAM_DISPATCH(loss, op, student_saved, softmax_loss_backward, spec, student_saved, labels, teacher_saved, grad_out, scale, grad_student, grad_teacher);
    return std::vector<Tensor>{grad_student, grad_teacher};
  });
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, Reduction reduction, double label_smoothing) {
  const char* op = "cross_entropy";
  check_logits(op, "logits", logits);
  check_labels(op, logits, labels);
  check_unit_interval(op, "label_smoothing", label_smoothing);
  SoftmaxLossSpec spec;
  spec.label_smoothing = label_smoothing;
  return softmax_loss(op, spec, logits, labels, Tensor(), reduction);
}

Tensor kl_div_with_temperature(const Tensor& student_logits, const Tensor& teacher_logits, double temperature,
                               Reduction reduction) {
  const char* op = "kl_div_with_temperature";
  check_logits(op, "student_logits", student_logits);
  check_teacher(op, student_logits, teacher_logits);
  check_temperature(op, temperature);
  SoftmaxLossSpec spec;
  spec.ce_weight = 0.0;
  spec.kd_weight = 1.0;
  spec.temperature = temperature;
  return softmax_loss(op, spec, student_logits, Tensor(), teacher_logits, reduction);
}

Tensor kl_div_reference_compat(const Tensor& student_logits, const Tensor& teacher_logits, double temperature) {
  const char* op = "kl_div_reference_compat";
  check_logits(op, "student_logits", student_logits);
  check_teacher(op, student_logits, teacher_logits);
  check_temperature(op, temperature);
  SoftmaxLossSpec spec;
  spec.ce_weight = 0.0;
  spec.kd_weight = 1.0;
  spec.temperature = temperature;
  spec.kl_form = KLForm::reference_compat;
  return softmax_loss(op, spec, student_logits, Tensor(), teacher_logits, Reduction::mean);  // 'batchmean'
}

Tensor distill_loss(const Tensor& student_logits, const Tensor& labels, const Tensor& teacher_logits, double alpha,
                    double temperature, double label_smoothing, Reduction reduction, KLForm kl_form) {
  const char* op = "distill_loss";
  check_logits(op, "student_logits", student_logits);
  check_labels(op, student_logits, labels);
  if (teacher_logits.defined()) check_teacher(op, student_logits, teacher_logits);
  check_unit_interval(op, "alpha", alpha);
  check_temperature(op, temperature);
  check_unit_interval(op, "label_smoothing", label_smoothing);
  SoftmaxLossSpec spec;
  spec.ce_weight = teacher_logits.defined() ? 1.0 - alpha : 1.0;
  spec.kd_weight = alpha;
  spec.temperature = temperature;
  spec.label_smoothing = label_smoothing;
  spec.kl_form = kl_form;
  return softmax_loss(op, spec, student_logits, labels, teacher_logits, reduction);
}

Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction) {
  const char* op = "mse_loss";
  check_pair(op, a, b);
  Tensor out;
  const double scale = reduction_scale(reduction, a.numel());
  if (reduction == Reduction::none) {
    out = Tensor::empty_like(a);
    ENGRAM_DISPATCH(loss, op, a, squared_difference, a, b, out);
  } else {
    out = Tensor::empty({}, a.dtype(), a.device());
    ENGRAM_DISPATCH(loss, op, a, sum_squared_difference, a, b, scale, false, out);
  }
  const bool a_grad = a.requires_grad(), b_grad = b.requires_grad();
  Tensor a_saved = a.detach(), b_saved = b.detach();
  return autograd::record(op, out, {a, b}, [=](const Tensor& grad_out) {
    Tensor grad_a = a_grad ? Tensor::empty_like(a_saved) : Tensor();
    Tensor grad_b = b_grad ? Tensor::empty_like(b_saved) : Tensor();
    ENGRAM_DISPATCH(loss, op, a_saved, mse_backward, a_saved, b_saved, grad_out, scale, grad_a, grad_b);
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

Tensor l2_distance(const Tensor& a, const Tensor& b) {
  const char* op = "l2_distance";
  check_pair(op, a, b);
  Tensor distance = Tensor::empty({}, a.dtype(), a.device());
  ENGRAM_DISPATCH(loss, op, a, sum_squared_difference, a, b, 1.0, true, distance);
  const bool a_grad = a.requires_grad(), b_grad = b.requires_grad();
  Tensor a_saved = a.detach(), b_saved = b.detach(), distance_saved = distance.detach();
  return autograd::record(op, distance, {a, b}, [=](const Tensor& grad_out) {
    Tensor grad_a = a_grad ? Tensor::empty_like(a_saved) : Tensor();
    Tensor grad_b = b_grad ? Tensor::empty_like(b_saved) : Tensor();
    ENGRAM_DISPATCH(loss, op, a_saved, l2_distance_backward, a_saved, b_saved, distance_saved, grad_out, grad_a, grad_b);
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

}  // namespace engram
