#include <catch2/catch.hpp>

#include "core/cuda/check.h"
#include "kernels/sgd.h"
#include "tests/support/checks.h"

using namespace engram;

namespace {

// One parameter set, on the CPU (f32) and on CUDA with identical values.
struct ParamSet {
  std::vector<Tensor> params, grads, buffers;
};

ParamSet to_gpu(const ParamSet& s) {
  ParamSet out;
  for (const Tensor& t : s.params) out.params.push_back(t.to(Device::cuda()));
  for (const Tensor& t : s.grads) out.grads.push_back(t.to(Device::cuda()));
  for (const Tensor& t : s.buffers) out.buffers.push_back(t.to(Device::cuda()));
  return out;
}

// 43 tensors of odd sizes, more than one launch holds (32 tensors): sizes
// around the 32768-element chunk, optionally a tensor larger than the 320
// chunks of one launch, and an empty one.
ParamSet make_params(Generator& gen, bool huge) {
  std::vector<int64_t> sizes = {1, 3, 7, 64, 127, 1000, 4097, 32767, 32768, 32769, 65537, 3 * 3 * 64 * 64, 0};
  for (int64_t k = 0; k < 30; ++k) sizes.push_back(5 + 37 * k);
  if (huge) sizes.push_back(320 * 32768 + 123);
  ParamSet s;
  for (int64_t n : sizes) {
    s.params.push_back(random::uniform({n}, -1, 1, gen));
    s.grads.push_back(random::uniform({n}, -1, 1, gen));
    s.buffers.push_back(Tensor::zeros({n}));
  }
  return s;
}

// Appends the same unaligned views to both sets: a parameter, gradient and
// buffer starting 3 floats into their storage, and a parameter whose
// gradient alone is unaligned. Views are taken after the copy to the GPU
// (a copy is always aligned).
void add_unaligned(ParamSet& cpu, ParamSet& gpu, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> bases = {
      random::uniform({7, 3}, -1, 1, gen), random::uniform({6, 3}, -1, 1, gen),    Tensor::zeros({8, 3}),
      random::uniform({1001}, -1, 1, gen), random::uniform({2, 1001}, -1, 1, gen), Tensor::zeros({1001})};
  for (ParamSet* s : {&cpu, &gpu}) {
    std::vector<Tensor> b;
    for (const Tensor& t : bases) b.push_back(s == &cpu ? t.clone() : t.to(Device::cuda()));
    s->params.push_back(b[0].narrow_rows(1, 5));
    s->grads.push_back(b[1].narrow_rows(1, 5));
    s->buffers.push_back(b[2].narrow_rows(3, 5));
    s->params.push_back(b[3]);
    s->grads.push_back(b[4].narrow_rows(1, 1).reshape({1001}));
    s->buffers.push_back(b[5]);
  }
}

SgdConfig config(double lr, double momentum, double dampening, double weight_decay, bool nesterov) {
  SgdConfig c;
  c.lr = lr;
  c.momentum = momentum;
  c.dampening = dampening;
  c.weight_decay = weight_decay;
  c.nesterov = nesterov;
  return c;
}

void check_close(const std::vector<Tensor>& gpu, const std::vector<Tensor>& cpu, const char* what) {
  for (size_t k = 0; k < cpu.size(); ++k) {
    double err = testing::normalised_error(gpu[k], cpu[k], 1e-6, 1e-5);
    INFO(what << "[" << k << "] of shape " << shape_str(cpu[k].shape()) << ": normalised error " << err);
    CHECK(err <= 1.0);
  }
}

}  // namespace

TEST_CASE("sgd_step on CUDA matches the CPU over many odd-sized tensors", "[sgd][cuda]") {
  Generator gen(31);
  ParamSet initial = make_params(gen, true);
  for (SgdConfig c : {config(0.1, 0, 0, 0, false), config(0.1, 0.9, 0, 0, false), config(0.05, 0.9, 0, 5e-4, true),
                      config(0.2, 0.5, 0.3, 1e-2, false), config(0.1, 0, 0, 1e-2, false)}) {
    INFO("lr " << c.lr << " momentum " << c.momentum << " dampening " << c.dampening << " weight_decay "
               << c.weight_decay << " nesterov " << c.nesterov);
    ParamSet cpu;
    for (const Tensor& t : initial.params) cpu.params.push_back(t.clone());
    for (const Tensor& t : initial.buffers) cpu.buffers.push_back(t.clone());
    cpu.grads = initial.grads;
    ParamSet gpu = to_gpu(cpu);
    add_unaligned(cpu, gpu, 33);
    bool use_momentum = c.momentum != 0;
    for (int step = 0; step < 3; ++step) {
      sgd_step(cpu.params, cpu.grads, use_momentum ? cpu.buffers : std::vector<Tensor>(), c, step == 0);
      sgd_step(gpu.params, gpu.grads, use_momentum ? gpu.buffers : std::vector<Tensor>(), c, step == 0);
    }
    check_close(gpu.params, cpu.params, "param");
    if (use_momentum) check_close(gpu.buffers, cpu.buffers, "buffer");
  }
}

TEST_CASE("a CUDA sgd_step can be captured in a CUDA graph and replayed", "[sgd][cuda]") {
  // Capture fails on any host synchronisation; replaying the graph must do
  // what the eager steps do.
  Generator gen(32);
  ParamSet cpu = make_params(gen, false);
  ParamSet eager = to_gpu(cpu), graphed = to_gpu(cpu);
  add_unaligned(cpu, eager, 34);
  add_unaligned(cpu, graphed, 34);
  SgdConfig c = config(0.1, 0.9, 0, 5e-4, true);
  sgd_step(eager.params, eager.grads, eager.buffers, c, true);
  sgd_step(graphed.params, graphed.grads, graphed.buffers, c, true);

  cudaStream_t s = cuda::stream();
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ENGRAM_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  sgd_step(graphed.params, graphed.grads, graphed.buffers, c, false);
  ENGRAM_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  ENGRAM_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int step = 0; step < 3; ++step) {
    ENGRAM_CUDA_CHECK(cudaGraphLaunch(exec, s));
    sgd_step(eager.params, eager.grads, eager.buffers, c, false);
  }
  ENGRAM_CUDA_CHECK(cudaStreamSynchronize(s));
  ENGRAM_CUDA_CHECK(cudaGraphExecDestroy(exec));
  ENGRAM_CUDA_CHECK(cudaGraphDestroy(graph));
  for (size_t k = 0; k < eager.params.size(); ++k)
    REQUIRE(eager.params[k].to_vector<float>() == graphed.params[k].to_vector<float>());
}

TEST_CASE("CUDA sgd_step rejects f64 and mixed devices", "[sgd][cuda][errors]") {
  Tensor p = Tensor::ones({3}, DType::f64, Device::cuda());
  CHECK_THROWS_WITH(sgd_step({p}, {p.clone()}, {}, config(0.1, 0, 0, 0, false), true),
                    Catch::StartsWith("sgd_step:") && Catch::Contains("f32"));
  Tensor q = Tensor::ones({3}, DType::f32, Device::cuda());
  CHECK_THROWS_AS(sgd_step({q}, {Tensor::ones({3})}, {}, config(0.1, 0, 0, 0, false), true), DeviceError);
  CHECK_THROWS_AS(sgd_step({q, Tensor::ones({3})}, {q, Tensor::ones({3})}, {}, config(0.1, 0, 0, 0, false), true),
                  DeviceError);
}
