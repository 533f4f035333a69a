// CPU reference of the losses. Each row is computed the obvious way: the
// three log-softmaxes it needs are materialised in double, then the loss and
// gradient are read off them term by term. The CUDA kernels use an algebraic
// rearrangement of the same sums; the parity tests check one against the other.
#include "kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"

namespace engram::cpu {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// out[j] = log_softmax(x / temperature)[j], in double.
template <typename scalar_t>
void log_softmax_scaled(const scalar_t* x, int64_t cols, double temperature, std::vector<double>& out) {
  out.resize(cols);
  double row_max = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < cols; ++j) row_max = std::max(row_max, double(x[j]) / temperature);
  double sum = 0;
  for (int64_t j = 0; j < cols; ++j) sum += std::exp(double(x[j]) / temperature - row_max);
  const double log_sum_exp = row_max + std::log(sum);
  for (int64_t j = 0; j < cols; ++j) out[j] = double(x[j]) / temperature - log_sum_exp;
}

// One row of the fused loss: its three log-softmaxes and the derived terms.
struct Row {
  std::vector<double> log_p;  // log_softmax(s), for CE
  std::vector<double> log_r;  // log_softmax(s / T), the student's side of KD
  std::vector<double> log_q;  // log_softmax(t / T), the teacher's side of KD
  bool label_ok = true;

  // d_j = log q_j - log r_j (standard) or log q_j - r_j (reference_compat); the KL form is sum_j q_j d_j.
  double kl_term(const SoftmaxLossSpec& spec, int64_t j) const {
    return log_q[j] - (spec.kl_form == KLForm::standard ? log_r[j] : std::exp(log_r[j]));
  }
  double kl(const SoftmaxLossSpec& spec) const {
    double sum = 0;
    for (size_t j = 0; j < log_q.size(); ++j) sum += std::exp(log_q[j]) * kl_term(spec, j);
    return sum;
  }
};

template <typename scalar_t>
struct RowInputs {
  const SoftmaxLossSpec& spec;
  const scalar_t* student;  // [N, C]
  const int32_t* labels;    // [N] or null
  const scalar_t* teacher;  // [N, C] or null
  int64_t cols;

  Row row(int64_t i) const {
    Row r;
    const scalar_t* s = student + i * cols;
    if (labels) {
      r.label_ok = labels[i] >= 0 && labels[i] < cols;
      log_softmax_scaled(s, cols, 1.0, r.log_p);
    }
    if (teacher) {
      log_softmax_scaled(s, cols, spec.temperature, r.log_r);
      log_softmax_scaled(teacher + i * cols, cols, spec.temperature, r.log_q);
    }
    return r;
  }

  double loss(int64_t i) const {
    Row r = row(i);
    double loss = 0;
    if (labels) {
      if (!r.label_ok) return kNaN;
      double mean_neg_log_p = 0;
      for (double lp : r.log_p) mean_neg_log_p -= lp / double(cols);
      const double eps = spec.label_smoothing;
      loss += spec.ce_weight * ((1 - eps) * -r.log_p[labels[i]] + eps * mean_neg_log_p);
    }
    if (teacher)  // the reference's term has no T^2
      loss += spec.kl_form == KLForm::standard ? spec.kd_weight * spec.temperature * spec.temperature * r.kl(spec)
                                               : spec.kd_weight * r.kl(spec);
    return loss;
  }
};

}  // namespace

void softmax_loss_forward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                          const Tensor& teacher, const Tensor& row_loss) {
  ENGRAM_DISPATCH_FLOATING(student.dtype(), "softmax_loss", [&] {
    RowInputs<scalar_t> in{spec, student.data<scalar_t>(), labels.defined() ? labels.data<int32_t>() : nullptr,
                           teacher.defined() ? teacher.data<scalar_t>() : nullptr, student.size(1)};
    scalar_t* out = row_loss.data<scalar_t>();
    parallel_for(student.size(0), [&](int64_t i) { out[i] = static_cast<scalar_t>(in.loss(i)); });
  });
}

void softmax_loss_backward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                           const Tensor& teacher, const Tensor& grad_rows, double grad_scale,
                           const Tensor& grad_student, const Tensor& grad_teacher) {
  ENGRAM_DISPATCH_FLOATING(student.dtype(), "softmax_loss_backward", [&] {
    const int64_t cols = student.size(1);
    RowInputs<scalar_t> in{spec, student.data<scalar_t>(), labels.defined() ? labels.data<int32_t>() : nullptr,
                           teacher.defined() ? teacher.data<scalar_t>() : nullptr, cols};
    const scalar_t* g_rows = grad_rows.data<scalar_t>();
    const bool broadcast = grad_rows.numel() == 1;
    scalar_t* gs = grad_student.defined() ? grad_student.data<scalar_t>() : nullptr;
    scalar_t* gt = grad_teacher.defined() ? grad_teacher.data<scalar_t>() : nullptr;
    const double T = spec.temperature, eps = spec.label_smoothing;
    // d KL / d logits carries 1/T: with the standard term's T^2 that is T.
    const double kd_factor = spec.kl_form == KLForm::standard ? spec.kd_weight * T : spec.kd_weight / T;

    parallel_for(student.size(0), [&](int64_t i) {
      const Row r = in.row(i);
      const double g = grad_scale * double(g_rows[broadcast ? 0 : i]);
      const double kl = in.teacher ? r.kl(spec) : 0.0;
      double q_dot_r = 0;  // sum_k q_k r_k, used by the reference_compat gradient
      if (in.teacher)
        for (int64_t k = 0; k < cols; ++k) q_dot_r += std::exp(r.log_q[k] + r.log_r[k]);
      for (int64_t j = 0; j < cols; ++j) {
        double d_student = 0, d_teacher = 0;
        if (in.labels) {
          const double target = (j == in.labels[i] ? 1 - eps : 0.0) + eps / double(cols);
          d_student += r.label_ok ? spec.ce_weight * (std::exp(r.log_p[j]) - target) : kNaN;
        }
        if (in.teacher) {
          const double q = std::exp(r.log_q[j]), rj = std::exp(r.log_r[j]);
          d_student += kd_factor * (spec.kl_form == KLForm::standard ? rj - q : -rj * (q - q_dot_r));
          d_teacher = kd_factor * q * (r.kl_term(spec, j) - kl);
        }
        if (gs) gs[i * cols + j] = static_cast<scalar_t>(g * d_student);
        if (gt) gt[i * cols + j] = static_cast<scalar_t>(g * d_teacher);
      }
    });
  });
}

void sum_scaled(const Tensor& values, double scale, const Tensor& out) {
  ENGRAM_DISPATCH_FLOATING(values.dtype(), "sum_scaled", [&] {
    const scalar_t* v = values.data<scalar_t>();
    double sum = 0;
    for (int64_t i = 0; i < values.numel(); ++i) sum += double(v[i]);
    out.data<scalar_t>()[0] = static_cast<scalar_t>(scale * sum);
  });
}

void squared_difference(const Tensor& a, const Tensor& b, const Tensor& out) {
  ENGRAM_DISPATCH_FLOATING(a.dtype(), "squared_difference", [&] {
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    parallel_for(a.numel(), [&](int64_t i) { po[i] = (pa[i] - pb[i]) * (pa[i] - pb[i]); });
  });
}

void sum_squared_difference(const Tensor& a, const Tensor& b, double scale, bool take_sqrt, const Tensor& out) {
  ENGRAM_DISPATCH_FLOATING(a.dtype(), "sum_squared_difference", [&] {
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    double sum = 0;
    for (int64_t i = 0; i < a.numel(); ++i) sum += (double(pa[i]) - double(pb[i])) * (double(pa[i]) - double(pb[i]));
    out.data<scalar_t>()[0] = static_cast<scalar_t>(take_sqrt ? std::sqrt(scale * sum) : scale * sum);
  });
}

void mse_backward(const Tensor& a, const Tensor& b, const Tensor& grad_out, double grad_scale, const Tensor& grad_a,
                  const Tensor& grad_b) {
  ENGRAM_DISPATCH_FLOATING(a.dtype(), "mse_backward", [&] {
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    const scalar_t* pg = grad_out.data<scalar_t>();
    const bool broadcast = grad_out.numel() == 1;
    scalar_t* ga = grad_a.defined() ? grad_a.data<scalar_t>() : nullptr;
    scalar_t* gb = grad_b.defined() ? grad_b.data<scalar_t>() : nullptr;
    parallel_for(a.numel(), [&](int64_t i) {
      const double d = 2 * grad_scale * double(pg[broadcast ? 0 : i]) * (double(pa[i]) - double(pb[i]));
      if (ga) ga[i] = static_cast<scalar_t>(d);
      if (gb) gb[i] = static_cast<scalar_t>(-d);
    });
  });
}

void l2_distance_backward(const Tensor& a, const Tensor& b, const Tensor& distance, const Tensor& grad_out,
                          const Tensor& grad_a, const Tensor& grad_b) {
  ENGRAM_DISPATCH_FLOATING(a.dtype(), "l2_distance_backward", [&] {
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    const double dist = double(distance.data<scalar_t>()[0]);
    // The subgradient 0 at a == b, as torch.dist's backward does.
    const double factor = dist > 0 ? double(grad_out.data<scalar_t>()[0]) / dist : 0.0;
    scalar_t* ga = grad_a.defined() ? grad_a.data<scalar_t>() : nullptr;
    scalar_t* gb = grad_b.defined() ? grad_b.data<scalar_t>() : nullptr;
    parallel_for(a.numel(), [&](int64_t i) {
      const double d = factor * (double(pa[i]) - double(pb[i]));
      if (ga) ga[i] = static_cast<scalar_t>(d);
      if (gb) gb[i] = static_cast<scalar_t>(-d);
    });
  });
}

}  // namespace engram::cpu
