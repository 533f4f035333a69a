#include "distill/losses.h"

#include "kernels/elementwise.h"

namespace engram::distill {

std::shared_ptr<nn::Sequential> make_projector(int64_t student_dim, int64_t teacher_dim) {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Layer>>{
      std::make_shared<nn::Linear>(student_dim, teacher_dim), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(teacher_dim, teacher_dim)});
}

Tensor kd_student_loss(const nn::ModelOutput& student, const Tensor& labels, const nn::ModelOutput* teacher,
                       nn::Layer* projector, const KdLossConfig& config) {
  if (teacher == nullptr) return cross_entropy(student.logits, labels, Reduction::mean, config.label_smoothing);
  Tensor loss = distill_loss(student.logits, labels, teacher->logits.detach(), config.alpha, config.temperature,
                             config.label_smoothing, Reduction::mean, config.kl_form);
  if (config.beta == 0) return loss;
  ENGRAM_CHECK(projector != nullptr, ValueError, "kd_student_loss",
               "beta = " + std::to_string(config.beta) + " needs a projector for the feature distance, got none");
  Tensor projected = projector->forward(student.features);
  ENGRAM_CHECK(projected.shape() == teacher->features.shape(), ShapeError, "kd_student_loss",
               "the projected student features have shape " + shape_str(projected.shape()) +
                   ", the teacher's features " + shape_str(teacher->features.shape()) +
                   " (the projector must map to the teacher's feature width)");
  return add(loss, scale(l2_distance(projected, teacher->features.detach()), config.beta));
}

Tensor mutual_teacher_loss(const nn::ModelOutput& teacher, const Tensor& labels, const nn::ModelOutput& student,
                           const KdLossConfig& config) {
  return distill_loss(teacher.logits, labels, student.logits.detach(), config.alpha, config.temperature,
                      config.label_smoothing, Reduction::mean, config.kl_form);
}

}  // namespace engram::distill
