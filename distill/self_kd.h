#pragma once
// The losses of "Be Your Own Teacher" self-distillation (Zhang et al., ICCV
// 2019, arXiv 1905.08094) on a multi-exit network (nn/multi_exit.h): the
// deepest exit teaches every shallow exit, online, in one backward pass.
//
// For a shallow exit e (logits z_e, features f_e), the deepest exit d, labels
// y, and config (alpha, T, beta = feature_weight):
//   L_e = (1 - alpha) * CE(z_e, y)
//       + alpha * T^2 * KL(softmax(z_d / T) || softmax(z_e / T))     (batch mean)
//       + beta * mean((f_e - f_d)^2)                                  (BYOT's L2 hint)
// with z_d and f_d detached: the deepest exit is the teacher, and no gradient
// reaches it through L_e. The whole online loss is
//   L = CE(z_d, y) + sum over shallow exits e of L_e.
// Defaults are the Spaced-KD reference's (alpha 0.3, T 3, beta 0.03).
#include <vector>

#include "core/tensor.h"
#include "nn/models.h"

namespace engram::distill {

struct SelfKdLossConfig {
  double alpha = 0.3;
  double temperature = 3.0;
  double feature_weight = 0.03;
};

// L_e above, a scalar. exit and deepest must agree in logits shape [N, C] and
// features shape; labels are i32 [N].
Tensor shallow_exit_loss(const nn::ModelOutput& exit, const nn::ModelOutput& deepest, const Tensor& labels,
                         const SelfKdLossConfig& config);

// L above, a scalar; exits as MultiExitResNet::forward returns them (shallowest
// first, deepest last, at least one).
Tensor self_kd_loss(const std::vector<nn::ModelOutput>& exits, const Tensor& labels, const SelfKdLossConfig& config);

}  // namespace engram::distill
