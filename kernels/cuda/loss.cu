// Losses on the GPU.
//
// The softmax losses (cross-entropy, temperature-scaled KL, the distillation
// mix and the reference-compat KL) are one fused computation per row, one
// warp per row (see softmax_rows.cuh). row_stats() reads the row twice:
//   pass 1: s_max = max s, t_max = max t
//   pass 2: z   = sum exp(s - s_max)            -> log-softmax of s (CE)
//           z_r = sum exp((s - s_max) / T)      -> r = softmax(s / T)
//           z_q = sum e_q, e_q = exp((t - t_max) / T)  -> q = softmax(t / T)
//           plus the sums the CE and KL terms need, so that with
//           log q_j - log r_j = ((t_j - t_max) - (s_j - s_max)) / T - log z_q + log z_r
//           KL(q || r) = sum_j e_q,j ((t_j - t_max) - (s_j - s_max)) / T / z_q - log z_q + log z_r.
// The forward kernel writes the row's loss; the backward kernel recomputes the
// statistics and writes the closed-form gradient in a third pass (the rows are
// small and hot in L1/L2, so recomputing beats saving [N, C] probabilities).
// Mean and sum are a second, single-block pass: deterministic, no atomics.
//
// A label outside [0, C) cannot be reported without a host sync: the kernels
// never read logits at such a label, write NaN as its row's loss and student
// gradient, and record it for the host's next read (core/cuda/device_errors.h),
// which throws ValueError naming the label and its row.
#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "core/cuda/device_errors.h"
#include "kernels/cuda/softmax_rows.cuh"
#include "kernels/loss.h"

namespace engram::cuda {
namespace {

using namespace rowwise;

// SoftmaxLossSpec in the kernels' precision, plus the row layout.
struct LossParams {
  const int32_t* labels;  // [N] or null: no CE term
  DeviceErrorRecord* bad_label;  // where a label outside [0, C) is reported
  const float* teacher;   // [N, C] or null: no KD term
  int cols;
  float ce_weight, kd_weight, temperature, inv_temperature, label_smoothing;
  bool reference_compat;
};

// One row's statistics; every lane of the warp holds the same values.
struct RowStats {
  float s_max, log_z;    // CE: log p_j = s_j - s_max - log_z
  float log_z_r;         // KD: log r_j = (s_j - s_max) / T - log_z_r
  float t_max, log_z_q;  // KD: log q_j = (t_j - t_max) / T - log_z_q
  float kl;              // sum_j q_j d_j, d_j = log q_j - log r_j (standard) or log q_j - r_j (compat)
  float q_dot_r;         // sum_j q_j r_j (compat)
  float ce;              // the smoothed CE of the row, NaN for a bad label
  bool label_ok;
  int label;
};

template <int kVec>
__device__ RowStats row_stats(const LossParams& p, const float* s, const float* t, int64_t row, int lane) {
  RowStats st{};
  const bool has_teacher = t != nullptr;

  float s_max = -INFINITY, t_max = -INFINITY;
  ENGRAM_ROW_LOOP(j, p.cols, lane, kVec) {
    Pack<kVec> a = load<kVec>(s + j);
#pragma unroll
    for (int k = 0; k < kVec; ++k) s_max = fmaxf(s_max, a.v[k]);
    if (has_teacher) {
      Pack<kVec> b = load<kVec>(t + j);
#pragma unroll
      for (int k = 0; k < kVec; ++k) t_max = fmaxf(t_max, b.v[k]);
    }
  }
  st.s_max = warp_max(s_max);
  st.t_max = has_teacher ? warp_max(t_max) : 0.0f;

  // kl_sum: sum e_q ((t - t_max) - (s - s_max)) / T (standard) or sum e_q (t - t_max) / T (compat).
  // shifted_sum: sum (s - s_max), for the smoothing term (shifted to keep large logits exact).
  float z = 0, shifted_sum = 0, z_r = 0, z_q = 0, kl_sum = 0, q_r_sum = 0;
  ENGRAM_ROW_LOOP(j, p.cols, lane, kVec) {
    Pack<kVec> a = load<kVec>(s + j);
    if (p.labels) {
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        z += expf(a.v[k] - st.s_max);
        shifted_sum += a.v[k] - st.s_max;
      }
    }
    if (has_teacher) {
      Pack<kVec> b = load<kVec>(t + j);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        const float s_scaled = (a.v[k] - st.s_max) * p.inv_temperature;
        const float t_scaled = (b.v[k] - st.t_max) * p.inv_temperature;
        const float e_r = expf(s_scaled), e_q = expf(t_scaled);
        z_r += e_r;
        z_q += e_q;
        kl_sum += e_q * (p.reference_compat ? t_scaled : t_scaled - s_scaled);
        q_r_sum += e_q * e_r;
      }
    }
  }
  if (p.labels) {
    st.log_z = logf(warp_sum(z));
    shifted_sum = warp_sum(shifted_sum);
    st.label = p.labels[row];
    st.label_ok = st.label >= 0 && st.label < p.cols;
    if (st.label_ok) {
      const float nll = (st.s_max - s[st.label]) + st.log_z;                     // -log p_label
      const float smooth = st.log_z - shifted_sum / static_cast<float>(p.cols);  // mean_j(-log p_j)
      st.ce = (1.0f - p.label_smoothing) * nll + p.label_smoothing * smooth;
    } else {
      st.ce = NAN;
      if (lane == 0) report_label_out_of_range(p.bad_label, row, st.label, p.cols);
    }
  }
  if (has_teacher) {
    z_r = warp_sum(z_r);
    z_q = warp_sum(z_q);
    kl_sum = warp_sum(kl_sum);
    q_r_sum = warp_sum(q_r_sum);
    st.log_z_r = logf(z_r);
    st.log_z_q = logf(z_q);
    st.q_dot_r = q_r_sum / (z_q * z_r);
    // standard: sum q (log q - log r) = kl_sum / z_q - log z_q + log z_r
    // compat:   sum q (log q - r)     = kl_sum / z_q - log z_q - sum q r
    st.kl = kl_sum / z_q - st.log_z_q + (p.reference_compat ? -st.q_dot_r : st.log_z_r);
  }
  return st;
}

template <int kVec>
__global__ void softmax_loss_forward_kernel(LossParams p, const float* student, int64_t rows, float* row_loss) {
  const int64_t row = warp_row();
  const int lane = lane_id();
  if (row >= rows) return;  // the whole warp leaves together
  const float* s = student + row * p.cols;
  const float* t = p.teacher ? p.teacher + row * p.cols : nullptr;
  const RowStats st = row_stats<kVec>(p, s, t, row, lane);
  if (lane != 0) return;
  float loss = 0.0f;
  if (p.labels) loss += p.ce_weight * st.ce;
  if (t)  // the reference's term has no T^2
    loss += p.reference_compat ? p.kd_weight * st.kl : p.kd_weight * p.temperature * p.temperature * st.kl;
  row_loss[row] = loss;
}

// grad_student / grad_teacher may be null (not needed). g_row = grad_scale *
// grad_rows[row * grad_stride]; grad_stride is 0 when one value is broadcast.
template <int kVec>
__global__ void softmax_loss_backward_kernel(LossParams p, const float* student, int64_t rows, const float* grad_rows,
                                             int grad_stride, float grad_scale, float* grad_student,
                                             float* grad_teacher) {
  const int64_t row = warp_row();
  const int lane = lane_id();
  if (row >= rows) return;
  const float* s = student + row * p.cols;
  const float* t = p.teacher ? p.teacher + row * p.cols : nullptr;
  const RowStats st = row_stats<kVec>(p, s, t, row, lane);
  const float g = grad_scale * grad_rows[row * grad_stride];
  // d KL / d logits carries 1/T: with the standard term's T^2 that is T.
  const float kd_factor = p.reference_compat ? p.kd_weight * p.inv_temperature : p.kd_weight * p.temperature;
  const float smooth_each = p.label_smoothing / static_cast<float>(p.cols);

  ENGRAM_ROW_LOOP(j, p.cols, lane, kVec) {
    Pack<kVec> a = load<kVec>(s + j);
    Pack<kVec> b = t ? load<kVec>(t + j) : Pack<kVec>{};
    Pack<kVec> ds{}, dt{};
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      if (p.labels) {
        const float prob = expf(a.v[k] - st.s_max - st.log_z);
        const float target = (j + k == st.label ? 1.0f - p.label_smoothing : 0.0f) + smooth_each;
        ds.v[k] += st.label_ok ? p.ce_weight * (prob - target) : NAN;
      }
      if (t) {
        const float log_r = (a.v[k] - st.s_max) * p.inv_temperature - st.log_z_r;
        const float log_q = (b.v[k] - st.t_max) * p.inv_temperature - st.log_z_q;
        const float r = expf(log_r), q = expf(log_q);
        if (p.reference_compat) {
          ds.v[k] += -kd_factor * r * (q - st.q_dot_r);
          dt.v[k] = kd_factor * q * ((log_q - r) - st.kl);
        } else {
          ds.v[k] += kd_factor * (r - q);
          dt.v[k] = kd_factor * q * ((log_q - log_r) - st.kl);
        }
      }
      ds.v[k] *= g;
      dt.v[k] *= g;
    }
    if (grad_student) store<kVec>(grad_student + row * p.cols + j, ds);
    if (grad_teacher) store<kVec>(grad_teacher + row * p.cols + j, dt);
  }
}

// out[0] = scale * sum(values) (or its square root), one block of kThreads.
__global__ void sum_scaled_kernel(const float* values, int64_t n, float scale, bool take_sqrt, float* out) {
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) sum += values[i];
  sum = block_sum<kRowsPerBlock>(sum);
  if (threadIdx.x == 0) out[0] = take_sqrt ? sqrtf(scale * sum) : scale * sum;
}

// Per-block sums of (a - b)^2 into partials[blockIdx.x]; the first
// vector_count float4s are read as vectors, the tail as scalars. With a grid
// of one block the kernel finishes the job: out = scale * sum (or its root).
__global__ void sum_squared_difference_kernel(const float* a, const float* b, int64_t n, int64_t vector_count,
                                              float scale, bool take_sqrt, float* partials_or_out) {
  const int64_t start = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  float sum = 0.0f;
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  for (int64_t i = start; i < vector_count; i += stride) {
    const float4 x = a4[i], y = b4[i];
    const float d0 = x.x - y.x, d1 = x.y - y.y, d2 = x.z - y.z, d3 = x.w - y.w;
    sum += d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
  }
  for (int64_t i = vector_count * 4 + start; i < n; i += stride) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  sum = block_sum<kRowsPerBlock>(sum);
  if (threadIdx.x != 0) return;
  if (gridDim.x == 1)
    partials_or_out[0] = take_sqrt ? sqrtf(scale * sum) : scale * sum;
  else
    partials_or_out[blockIdx.x] = sum;
}

__global__ void squared_difference_kernel(const float* a, const float* b, float* out, int64_t n) {
  ENGRAM_GRID_STRIDE_LOOP(i, n) {
    const float d = a[i] - b[i];
    out[i] = d * d;
  }
}

// grad_a = factor * g * (a - b), grad_b = -grad_a; g = grad_out[i * grad_stride].
// With distance non-null (l2_distance) the factor is 1 / distance, or 0 at distance 0.
__global__ void difference_backward_kernel(const float* a, const float* b, const float* grad_out, int grad_stride,
                                           float factor, const float* distance, float* grad_a, float* grad_b,
                                           int64_t n) {
  if (distance) factor = distance[0] > 0.0f ? 1.0f / distance[0] : 0.0f;
  ENGRAM_GRID_STRIDE_LOOP(i, n) {
    const float d = factor * grad_out[i * grad_stride] * (a[i] - b[i]);
    if (grad_a) grad_a[i] = d;
    if (grad_b) grad_b[i] = -d;
  }
}

float* mptr_or_null(const Tensor& t) { return t.defined() ? mptr(t) : nullptr; }

LossParams make_params(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                       const Tensor& teacher) {
  LossParams p;
  p.labels = labels.defined() ? static_cast<const int32_t*>(labels.raw_data()) : nullptr;
  p.bad_label = p.labels ? device_error_record() : nullptr;
  p.teacher = teacher.defined() ? cptr(teacher) : nullptr;
  p.cols = static_cast<int>(student.size(1));
  p.ce_weight = static_cast<float>(spec.ce_weight);
  p.kd_weight = static_cast<float>(spec.kd_weight);
  p.temperature = static_cast<float>(spec.temperature);
  p.inv_temperature = static_cast<float>(1.0 / spec.temperature);
  p.label_smoothing = static_cast<float>(spec.label_smoothing);
  p.reference_compat = spec.kl_form == KLForm::reference_compat;
  return p;
}

// float4 rows need C % 4 == 0 and every row pointer 16-byte aligned.
bool rows_vectorisable(int64_t cols, std::initializer_list<const void*> pointers) {
  if (cols % 4 != 0) return false;
  for (const void* ptr : pointers)
    if (ptr && !aligned16(ptr)) return false;
  return true;
}

}  // namespace

void softmax_loss_forward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                          const Tensor& teacher, const Tensor& row_loss) {
  const LossParams p = make_params(spec, student, labels, teacher);
  const int64_t rows = student.size(0);
  if (rows_vectorisable(p.cols, {student.raw_data(), p.teacher})) {
    launch("softmax_loss_forward_kernel", softmax_loss_forward_kernel<4>, row_blocks(rows), kThreads, 0, p,
           cptr(student), rows, mptr(row_loss));
  } else {
    launch("softmax_loss_forward_kernel", softmax_loss_forward_kernel<1>, row_blocks(rows), kThreads, 0, p,
           cptr(student), rows, mptr(row_loss));
  }
}

void softmax_loss_backward(const SoftmaxLossSpec& spec, const Tensor& student, const Tensor& labels,
                           const Tensor& teacher, const Tensor& grad_rows, double grad_scale,
                           const Tensor& grad_student, const Tensor& grad_teacher) {
  const LossParams p = make_params(spec, student, labels, teacher);
  const int64_t rows = student.size(0);
  const int grad_stride = grad_rows.numel() == 1 ? 0 : 1;
  float* gs = mptr_or_null(grad_student);
  float* gt = mptr_or_null(grad_teacher);
  if (rows_vectorisable(p.cols, {student.raw_data(), p.teacher, gs, gt})) {
    launch("softmax_loss_backward_kernel", softmax_loss_backward_kernel<4>, row_blocks(rows), kThreads, 0, p,
           cptr(student), rows, cptr(grad_rows), grad_stride, static_cast<float>(grad_scale), gs, gt);
  } else {
    launch("softmax_loss_backward_kernel", softmax_loss_backward_kernel<1>, row_blocks(rows), kThreads, 0, p,
           cptr(student), rows, cptr(grad_rows), grad_stride, static_cast<float>(grad_scale), gs, gt);
  }
}

void sum_scaled(const Tensor& values, double scale, const Tensor& out) {
  launch("sum_scaled_kernel", sum_scaled_kernel, 1, kThreads, 0, cptr(values), values.numel(),
         static_cast<float>(scale), false, mptr(out));
}

void squared_difference(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = a.numel();
  launch("squared_difference_kernel", squared_difference_kernel, blocks_for(n), kThreads, 0, cptr(a), cptr(b),
         mptr(out), n);
}

void sum_squared_difference(const Tensor& a, const Tensor& b, double scale, bool take_sqrt, const Tensor& out) {
  const int64_t n = a.numel();
  const int64_t vector_count = aligned16(a.raw_data()) && aligned16(b.raw_data()) ? n / 4 : 0;
  // About 16 elements per thread, at most 1024 partial sums; the block count
  // depends on n only, so the summation order (and result) is reproducible.
  constexpr int64_t kElementsPerBlock = 16 * kThreads;
  const int64_t blocks = std::min<int64_t>(std::max<int64_t>((n + kElementsPerBlock - 1) / kElementsPerBlock, 1), 1024);
  const float scale_f = static_cast<float>(scale);
  if (blocks == 1) {
    launch("sum_squared_difference_kernel", sum_squared_difference_kernel, 1, kThreads, 0, cptr(a), cptr(b), n,
           vector_count, scale_f, take_sqrt, mptr(out));
    return;
  }
  Tensor partials = Tensor::empty({blocks}, DType::f32, a.device());
  launch("sum_squared_difference_kernel", sum_squared_difference_kernel, static_cast<unsigned>(blocks), kThreads, 0,
         cptr(a), cptr(b), n, vector_count, scale_f, take_sqrt, mptr(partials));
  launch("sum_scaled_kernel", sum_scaled_kernel, 1, kThreads, 0, cptr(partials), blocks, scale_f, take_sqrt, mptr(out));
}

void mse_backward(const Tensor& a, const Tensor& b, const Tensor& grad_out, double grad_scale, const Tensor& grad_a,
                  const Tensor& grad_b) {
  const int64_t n = a.numel();
  const int grad_stride = grad_out.numel() == 1 ? 0 : 1;
  launch("difference_backward_kernel", difference_backward_kernel, blocks_for(n), kThreads, 0, cptr(a), cptr(b),
         cptr(grad_out), grad_stride, static_cast<float>(2.0 * grad_scale), nullptr, mptr_or_null(grad_a),
         mptr_or_null(grad_b), n);
}

void l2_distance_backward(const Tensor& a, const Tensor& b, const Tensor& distance, const Tensor& grad_out,
                          const Tensor& grad_a, const Tensor& grad_b) {
  const int64_t n = a.numel();
  launch("difference_backward_kernel", difference_backward_kernel, blocks_for(n), kThreads, 0, cptr(a), cptr(b),
         cptr(grad_out), 0, 1.0f, cptr(distance), mptr_or_null(grad_a), mptr_or_null(grad_b), n);
}

}  // namespace engram::cuda
