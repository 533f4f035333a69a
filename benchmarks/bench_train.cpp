// bench_train: the time of one training step (forward, cross-entropy,
// backward, SGD update with momentum and weight decay) of a model-zoo
// classifier on one fixed random batch, as torch/bench_train.py times the same
// step in PyTorch. Prints one JSON object. Builds with and without CUDA: on
// the CPU it uses OMP_NUM_THREADS threads; on CUDA each step ends with a
// stream synchronisation so that the time covers the device work.
//   bench_train --model resnet20 --batch 128 --shape 1,28,28 --classes 10 --device auto --steps 20 --warmup 3
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/random.h"
#include "kernels/loss.h"
#include "nn/models.h"
#include "optim/optimizer.h"

#if ENGRAM_HAS_CUDA
#include "core/cuda_runtime.h"
#endif

using namespace engram;

namespace {

Device resolve(const std::string& name) {
  if (name == "auto") return cuda_available() ? Device::cuda() : Device::cpu();
  Device device = Device::parse(name);
  ENGRAM_CHECK(device.is_cpu() || cuda_available(), DeviceError, "bench_train",
               "--device " + name + ": no CUDA GPU is visible (or engram was built without CUDA)");
  return device;
}

void wait_for_device(Device device) {
#if ENGRAM_HAS_CUDA
  if (device.is_cuda()) cuda::synchronize();
#else
  (void)device;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engram bench_train: milliseconds per training step (forward + backward + SGD)"};
  std::string model_name = "resnet20", device_name = "auto";
  std::vector<int64_t> shape = {1, 28, 28};
  int64_t batch = 128, classes = 10;
  int steps = 20, warmup = 3;
  app.add_option("--model", model_name, "model-zoo name")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--shape", shape, "input C,H,W")->delimiter(',')->expected(3);
  app.add_option("--classes", classes, "number of classes")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--device", device_name, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", warmup, "untimed steps first")->check(CLI::NonNegativeNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Device device = resolve(device_name);
    manual_seed(0);
    auto model = nn::make_model(model_name, shape[0], classes);
    model->to(device);
    model->train();
    optim::SGD sgd(model->parameters(), SgdConfig{0.01, 0.9, 0.0, 5e-4, false});
    Generator gen(1);
    Tensor images = random::normal({batch, shape[0], shape[1], shape[2]}, 0, 1, gen, DType::f32, device);
    Tensor labels = random::randint({batch}, 0, static_cast<int32_t>(classes), gen, device);

    std::vector<double> ms;
    for (int step = 0; step < warmup + steps; ++step) {
      auto start = std::chrono::steady_clock::now();
      Tensor loss = cross_entropy(model->forward(images).logits, labels);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      wait_for_device(device);
      double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (step >= warmup) ms.push_back(elapsed);
    }
    std::sort(ms.begin(), ms.end());
    double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    nlohmann::ordered_json out = {{"benchmark", "train_step"},
                                  {"framework", "engram"},
                                  {"model", model_name},
                                  {"batch", batch},
                                  {"shape", shape},
                                  {"classes", classes},
                                  {"device", device.str()},
                                  {"threads", device.is_cpu() ? omp_get_max_threads() : 0},
                                  {"steps", steps},
                                  {"warmup", warmup},
                                  {"ms_per_step_median", median},
                                  {"ms_per_step_min", ms.front()},
                                  {"images_per_s", 1000.0 * static_cast<double>(batch) / median}};
    std::printf("%s\n", out.dump(2).c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
