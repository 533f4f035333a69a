#pragma once
// Losses, PyTorch semantics. The softmax losses take logits [N, C] (rows are
// samples) and labels i32 [N]; all are numerically stable (log-sum-exp with
// the row maximum subtracted), so logits of 1e4 give finite losses.
//
// Cross-entropy, temperature-scaled KL and their distillation mix share one
// fused per-row computation (`SoftmaxLossSpec`): one pass per row computes
// log_softmax(s), softmax(s/T) and softmax(t/T), the CE and KL terms, and the
// backward recomputes the row and writes the closed-form gradient.
#include "core/tensor.h"

namespace engram {

enum class Reduction { none, mean, sum };

// cross_entropy exactly as torch.nn.functional.cross_entropy (no class
// weights, no ignore_index): per row
//   (1 - eps) * (-log p[y]) + eps * mean_j(-log p[j]),   p = softmax(logits row), eps = label_smoothing.
// none -> [N]; mean (/N) and sum -> a scalar. Labels outside [0, C) are a
// ValueError naming the label and its row when the labels live on the CPU; on
// CUDA no host sync checks them: the kernel never reads outside the row and
// writes NaN as that row's loss and gradient instead.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, Reduction reduction = Reduction::mean,
                     double label_smoothing = 0.0);

// Hinton et al.'s distillation term: per row
//   T^2 * KL(softmax(t/T) || softmax(s/T)) = T^2 * sum_j q_j (log q_j - log r_j),  q = softmax(t/T), r = softmax(s/T).
// mean divides by N (PyTorch's 'batchmean'). The student gets a gradient; the
// teacher gets one only if it requires grad (mutual learning).
Tensor kl_div_with_temperature(const Tensor& student_logits, const Tensor& teacher_logits, double temperature,
                               Reduction reduction = Reduction::mean);

// The Spaced-KD reference code's KD term, reproduced for comparison. It calls
// KLDivLoss(reduction='batchmean')(input = softmax(s/T), target = softmax(t/T)),
// with no T^2 factor, but KLDivLoss expects log-probabilities as input, so it
// computes
//   1 / N * sum_ij q_ij (log q_ij - r_ij)           (r itself, not log r)
// instead of the KL divergence. Per row that is -H(q) - sum_j q_j r_j, always
// negative; its gradient with respect to s_j is -r_j (q_j - sum_k q_k r_k) / T
// instead of the standard T * (r_j - q_j). Differentiable like kl_div_with_temperature.
Tensor kl_div_reference_compat(const Tensor& student_logits, const Tensor& teacher_logits, double temperature);

// mean((a - b)^2) over all elements (none -> elementwise, sum -> total); any shape.
Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction = Reduction::mean);
// ||a - b||_2 over all elements (torch.dist), a scalar. Its gradient
// (a - b) / ||a - b|| is defined as 0 where a == b everywhere.
Tensor l2_distance(const Tensor& a, const Tensor& b);

// Which KL form the distillation term uses (see kl_div_reference_compat).
enum class KLForm { standard, reference_compat };

// The fused distillation loss: per row
//   (1 - alpha) * cross_entropy(s, y, label_smoothing) + alpha * KD_T(s, t)
// with KD_T the standard temperature-scaled KL (or the reference's form),
// computed in one pass per row; the backward is one kernel. teacher_logits may
// be undefined: then the loss is plain cross-entropy and alpha is ignored.
Tensor distill_loss(const Tensor& student_logits, const Tensor& labels, const Tensor& teacher_logits, double alpha,
                    double temperature, double label_smoothing = 0.0, Reduction reduction = Reduction::mean,
                    KLForm kl_form = KLForm::standard);

// What the fused softmax-loss row computes, for student logits s, teacher
// logits t and label y of one row:
//   ce_weight * CE_eps(s, y)  +  kd_weight * T^2 * KL(q || r),   q = softmax(t/T), r = softmax(s/T)
// with the reference's form, kd_weight * KL_ref(q, r) without the T^2 (above).
// The CE term is present only when labels are given, the KD term only when
// the teacher is given.
struct SoftmaxLossSpec {
  double ce_weight = 1.0;
  double kd_weight = 0.0;
  double temperature = 1.0;
  double label_smoothing = 0.0;
  KLForm kl_form = KLForm::standard;
};

// Backends. student and teacher are [N, C] (N, C >= 1), labels i32 [N];
// labels or teacher may be undefined (that term is then absent). Backends
// validate nothing (a label outside [0, C) gives NaN for its row, never an
// out-of-bounds read).
namespace cpu {
// row_loss[i] = the spec's loss of row i; row_loss is [N].
void softmax_loss_forward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                          const Tensor& teacher, const Tensor& row_loss);
// grad_student[i, j] = g_i * d row_loss[i] / d student[i, j], likewise grad_teacher,
// with g_i = grad_scale * grad_rows[i] (grad_rows [N]) or grad_scale * grad_rows[0]
// (grad_rows holds one element: the mean/sum case). Undefined outputs are skipped.
void softmax_loss_backward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                           const Tensor& teacher, const Tensor& grad_rows, double grad_scale,
                           const Tensor& grad_student, const Tensor& grad_teacher);
// out (one element) = scale * sum(values), summed in a fixed order.
void sum_scaled(const Tensor& values, double scale, const Tensor& out);
// out = (a - b)^2 elementwise.
void squared_difference(const Tensor& a, const Tensor& b, const Tensor& out);
// out (one element) = scale * sum((a - b)^2), or its square root when take_sqrt.
void sum_squared_difference(const Tensor& a, const Tensor& b, double scale, bool take_sqrt, const Tensor& out);
// grad_a = 2 * grad_scale * g * (a - b), grad_b = -grad_a, where g is grad_out
// elementwise or its one element broadcast. Undefined outputs are skipped.
void mse_backward(const Tensor& a, const Tensor& b, const Tensor& grad_out, double grad_scale, const Tensor& grad_a,
                  const Tensor& grad_b);
// grad_a = grad_out * (a - b) / distance (0 when distance is 0), grad_b = -grad_a;
// distance and grad_out hold one element each.
void l2_distance_backward(const Tensor& a, const Tensor& b, const Tensor& distance, const Tensor& grad_out,
                          const Tensor& grad_a, const Tensor& grad_b);
}  // namespace cpu

namespace cuda {
void softmax_loss_forward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                          const Tensor& teacher, const Tensor& row_loss);
void softmax_loss_backward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                           const Tensor& teacher, const Tensor& grad_rows, double grad_scale,
                           const Tensor& grad_student, const Tensor& grad_teacher);
void sum_scaled(const Tensor& values, double scale, const Tensor& out);
void squared_difference(const Tensor& a, const Tensor& b, const Tensor& out);
void sum_squared_difference(const Tensor& a, const Tensor& b, double scale, bool take_sqrt, const Tensor& out);
void mse_backward(const Tensor& a, const Tensor& b, const Tensor& grad_out, double grad_scale, const Tensor& grad_a,
                  const Tensor& grad_b);
void l2_distance_backward(const Tensor& a, const Tensor& b, const Tensor& distance, const Tensor& grad_out,
                          const Tensor& grad_a, const Tensor& grad_b);
}  // namespace cuda

}  // namespace engram
