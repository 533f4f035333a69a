#pragma once
// The student's objective in offline, online and Spaced KD:
//
//   (1 - alpha) * CE_eps(z_s, y)  +  alpha * KD_T(z_s, z_t)  +  beta * ||P(f_s) - f_t||_2
//
// z are logits, f pooled features, KD_T = T^2 * KL(softmax(z_t/T) || softmax(z_s/T))
// (Hinton et al.; or the reference code's form, see docs/distillation.md), P
// a 2-layer MLP projector from the student's feature width to the teacher's,
// and ||.||_2 the Euclidean norm over the whole batch (torch.dist). The
// teacher's outputs are constants: no gradient reaches the teacher.
#include <memory>

#include "kernels/loss.h"
#include "nn/layers.h"
#include "nn/models.h"

namespace engram::distill {

struct KdLossConfig {
  double alpha = 0.3;        // weight of the KD term (1 - alpha on the CE term)
  double temperature = 3.0;  // T
  double beta = 0.03;        // weight of the feature distance; 0 drops it (and the projector)
  double label_smoothing = 0.0;
  KLForm kl_form = KLForm::standard;
};

// P: Linear(student_dim, teacher_dim) -> ReLU -> Linear(teacher_dim, teacher_dim),
// named as PyTorch names nn.Sequential's children (0.weight, 2.weight, ...).
std::shared_ptr<nn::Sequential> make_projector(int64_t student_dim, int64_t teacher_dim);

// The objective above. `teacher` null: the baseline, CE_eps alone. With beta
// > 0 and a teacher, `projector` must be given; its output width must equal
// the teacher's feature width (ShapeError otherwise).
Tensor kd_student_loss(const nn::ModelOutput& student, const Tensor& labels, const nn::ModelOutput* teacher,
                       nn::Layer* projector, const KdLossConfig& config);

// Mutual learning (Zhang et al., 2018): the teacher's objective when it also
// learns from the student, (1 - alpha) * CE_eps(z_t, y) + alpha * KD_T(z_t, z_s),
// with the student's logits constant.
Tensor mutual_teacher_loss(const nn::ModelOutput& teacher, const Tensor& labels, const nn::ModelOutput& student,
                           const KdLossConfig& config);

}  // namespace engram::distill
