#include "distill/self_kd.h"

#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/loss.h"

namespace engram::distill {

namespace {

void check_same(const char* what, const Tensor& exit, const Tensor& deepest) {
  ENGRAM_CHECK(exit.defined() && deepest.defined(), ValueError, "shallow_exit_loss",
               std::string("exit.") + what + " and deepest." + what + " must both be defined");
  ENGRAM_CHECK(exit.shape() == deepest.shape(), ShapeError, "shallow_exit_loss",
               std::string("exit.") + what + " has shape " + shape_str(exit.shape()) + " but deepest." + what +
                   " has shape " + shape_str(deepest.shape()) + "; they must match");
}

}  // namespace

Tensor shallow_exit_loss(const nn::ModelOutput& exit, const nn::ModelOutput& deepest, const Tensor& labels,
                         const SelfKdLossConfig& config) {
  check_same("logits", exit.logits, deepest.logits);
  check_same("features", exit.features, deepest.features);
  ENGRAM_CHECK(config.feature_weight >= 0 && std::isfinite(config.feature_weight), ValueError, "shallow_exit_loss",
               "feature_weight must be a finite number >= 0, got " + std::to_string(config.feature_weight));
  Tensor loss = distill_loss(exit.logits, labels, deepest.logits.detach(), config.alpha, config.temperature);
  if (config.feature_weight == 0) return loss;
  return add(loss, scale(mse_loss(exit.features, deepest.features.detach()), config.feature_weight));
}

Tensor self_kd_loss(const std::vector<nn::ModelOutput>& exits, const Tensor& labels, const SelfKdLossConfig& config) {
  ENGRAM_CHECK(!exits.empty(), ValueError, "self_kd_loss", "needs at least one exit (the deepest), got none");
  const nn::ModelOutput& deepest = exits.back();
  Tensor loss = cross_entropy(deepest.logits, labels);
  for (size_t i = 0; i + 1 < exits.size(); ++i) loss = add(loss, shallow_exit_loss(exits[i], deepest, labels, config));
  return loss;
}

}  // namespace engram::distill
