// Whole training steps, CPU vs CUDA: the same model, weights and batches give
// the same losses and the same weights after several SGD steps.
#include <catch2/catch.hpp>

#include "core/random.h"
#include "kernels/loss.h"
#include "nn/models.h"
#include "optim/optimizer.h"
#include "tests/support/checks.h"

using namespace engram;

namespace {

struct Run {
  std::vector<float> losses;
  nn::NamedTensors state;
};

Run train_steps(const std::string& model_name, Device device, const nn::NamedTensors& initial, int steps) {
  auto model = nn::make_model(model_name, 1, 10);
  model->load_state_dict(initial);
  model->to(device);
  model->train();
  SgdConfig config;
  config.lr = 0.05, config.momentum = 0.9, config.weight_decay = 5e-4;
  optim::SGD sgd(model->parameters(), config);
  Generator gen(99);
  Run run;
  for (int step = 0; step < steps; ++step) {
    Tensor x = random::normal({4, 1, 28, 28}, 0, 1, gen).to(device);
    Tensor y = random::randint({4}, 0, 10, gen).to(device);
    Tensor loss = cross_entropy(model->forward(x).logits, y);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    run.losses.push_back(loss.item<float>());
  }
  run.state = model->state_dict();
  return run;
}

}  // namespace

TEST_CASE("ResNet-20 SGD steps: CUDA matches the CPU reference", "[training][cuda]") {
  manual_seed(5);
  auto reference = nn::make_model("resnet20", 1, 10);
  nn::NamedTensors initial = reference->state_dict();
  Run cpu = train_steps("resnet20", Device::cpu(), initial, 3);
  Run gpu = train_steps("resnet20", Device::cuda(), initial, 3);
  for (size_t i = 0; i < cpu.losses.size(); ++i) {
    INFO("step " << i << ": CPU loss " << cpu.losses[i] << ", CUDA loss " << gpu.losses[i]);
    CHECK(gpu.losses[i] == Approx(cpu.losses[i]).epsilon(2e-3));
  }
  REQUIRE(cpu.state.size() == gpu.state.size());
  for (size_t i = 0; i < cpu.state.size(); ++i) {
    INFO(cpu.state[i].first);
    CHECK(testing::normalised_error(gpu.state[i].second, cpu.state[i].second, 2e-3, 2e-3) <= 1.0);
  }
}
