// The CUDA AdamW kernel against the CPU reference: several steps over odd
// sizes (scalar tails), an empty tensor and an unaligned view update the
// parameters and both moment buffers as the CPU does.
#include <catch2/catch.hpp>

#include "core/random.h"
#include "kernels/adamw.h"
#include "tests/support/checks.h"

using namespace engram;

namespace {

struct State {
  std::vector<Tensor> params, grads, exp_avg, exp_avg_sq;
};

State copy_to(const State& s, Device device) {
  auto copy = [&](const std::vector<Tensor>& ts) {
    std::vector<Tensor> out;
    for (const Tensor& t : ts) out.push_back(t.to(device));
    return out;
  };
  return {copy(s.params), copy(s.grads), copy(s.exp_avg), copy(s.exp_avg_sq)};
}

}  // namespace

TEST_CASE("CUDA AdamW steps match the CPU reference", "[adamw][optim][cuda]") {
  Generator gen(17);
  State cpu;
  for (int64_t n : {1, 3, 4, 7, 127, 1000, 4097, 0}) {
    cpu.params.push_back(random::uniform({n}, -1, 1, gen));
    cpu.grads.push_back(random::uniform({n}, -1, 1, gen));
    cpu.exp_avg.push_back(Tensor::zeros({n}));
    cpu.exp_avg_sq.push_back(Tensor::zeros({n}));
  }
  State gpu = copy_to(cpu, Device::cuda());
  // A parameter view 5 floats into its storage (not 16-byte aligned), on both devices.
  Tensor base = random::uniform({9, 5}, -1, 1, gen);
  cpu.params.push_back(base.clone().narrow_rows(1, 7).reshape({35}));
  gpu.params.push_back(base.to(Device::cuda()).narrow_rows(1, 7).reshape({35}));
  for (State* s : {&cpu, &gpu}) {
    Device d = s == &cpu ? Device::cpu() : Device::cuda();
    s->grads.push_back(Tensor::full({35}, 0.25, DType::f32, d));
    s->exp_avg.push_back(Tensor::zeros({35}, DType::f32, d));
    s->exp_avg_sq.push_back(Tensor::zeros({35}, DType::f32, d));
  }

  const Tensor initial = cpu.params[5].clone();  // 1000 elements
  AdamWConfig config;
  config.lr = 1e-2;
  config.weight_decay = 0.05;
  for (int64_t step = 1; step <= 3; ++step) {
    adamw_step(cpu.params, cpu.grads, cpu.exp_avg, cpu.exp_avg_sq, config, step);
    adamw_step(gpu.params, gpu.grads, gpu.exp_avg, gpu.exp_avg_sq, config, step);
  }
  for (size_t k = 0; k < cpu.params.size(); ++k) {
    INFO("tensor " << k << " of " << cpu.params[k].numel() << " elements");
    CHECK(gpu.params[k].device().is_cuda());
    CHECK(testing::normalised_error(gpu.params[k], cpu.params[k], 1e-6, 1e-5) <= 1.0);
    CHECK(testing::normalised_error(gpu.exp_avg[k], cpu.exp_avg[k], 1e-6, 1e-5) <= 1.0);
    CHECK(testing::normalised_error(gpu.exp_avg_sq[k], cpu.exp_avg_sq[k], 1e-7, 1e-5) <= 1.0);
  }
  // The update moved the parameters: the comparison is not of two untouched copies.
  CHECK(testing::normalised_error(cpu.params[5], initial, 1e-6, 1e-5) > 1.0);
}
