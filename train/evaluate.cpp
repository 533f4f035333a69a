#include "train/evaluate.h"

#include <numeric>

#include "core/autograd.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"

namespace engram::train {

Evaluation evaluate(nn::Module& model, data::Loader& loader, const std::function<Tensor(const Tensor&)>& logits_of) {
  const int64_t steps = loader.steps_per_epoch();
  const bool was_training = model.is_training();
  NoGradGuard no_grad;
  model.eval();
  Device device = loader.dataset().device();
  Tensor step_loss_sums = Tensor::zeros({steps}, DType::f32, device);
  Tensor step_correct = Tensor::zeros({steps}, DType::i32, device);
  for (int64_t step = 0; step < steps; ++step) {
    data::Batch batch = loader.batch(0, step);
    Tensor logits = logits_of(batch.images);
    step_loss_sums.narrow_rows(step, 1).copy_(cross_entropy(logits, batch.labels, Reduction::sum).reshape({1}));
    step_correct.narrow_rows(step, 1).copy_(count_correct(logits, batch.labels).reshape({1}));
  }
  model.train(was_training);
  std::vector<float> sums = step_loss_sums.to_vector<float>();
  std::vector<int32_t> correct = step_correct.to_vector<int32_t>();
  double samples = static_cast<double>(loader.dataset().size());
  return {std::accumulate(sums.begin(), sums.end(), 0.0) / samples,
          100.0 * std::accumulate(correct.begin(), correct.end(), 0.0) / samples};
}

}  // namespace engram::train
