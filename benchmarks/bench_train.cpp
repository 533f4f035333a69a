// bench_train: the time of one step of a model-zoo classifier on one fixed
// random batch, as torch/bench_train.py times the same step in PyTorch.
// Prints one JSON object. Builds with and without CUDA: on the CPU it uses
// OMP_NUM_THREADS threads; on CUDA each step ends with a stream
// synchronisation so that the time covers the device work.
//   --step plain      one training step: forward, cross-entropy, backward, SGD update
//                     (momentum 0.9, weight decay 5e-4)
//   --step online-kd  one online-KD step as distill/kd_run.cpp takes it: a teacher SGD step on
//                     CE(teacher(x), y), then a student SGD step on the KD objective
//                     (distill::kd_student_loss: alpha 0.3, T 3, beta 0.03 with the projector)
//                     with the teacher's logits and features of the same batch; teacher and
//                     student are both --model
//   --step eval       one evaluation forward pass (eval mode, no grad)
//   bench_train --model resnet20 --batch 128 --shape 1,28,28 --classes 10 --device auto --steps 20 --warmup 3
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "distill/losses.h"
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
  CLI::App app{"engram bench_train: milliseconds per training step (plain, online-kd) or eval forward pass"};
  std::string model_name = "resnet20", device_name = "auto";
  std::vector<int64_t> shape = {1, 28, 28};
  int64_t batch = 128, classes = 10;
  int steps = 20, warmup = 3;
  std::string step_kind = "plain";
  app.add_option("--model", model_name, "model-zoo name")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--shape", shape, "input C,H,W")->delimiter(',')->expected(3);
  app.add_option("--classes", classes, "number of classes")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--device", device_name, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", warmup, "untimed steps first")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--step", step_kind, "what one timed step is: plain (training step), online-kd or eval")
      ->check(CLI::IsMember({"plain", "online-kd", "eval"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Device device = resolve(device_name);
    manual_seed(0);
    const SgdConfig sgd_config{0.01, 0.9, 0.0, 5e-4, false};
    auto model = nn::make_model(model_name, shape[0], classes);  // plain, eval; online-kd: the student
    model->to(device);
    model->train(step_kind != "eval");
    std::shared_ptr<nn::Classifier> teacher;  // online-kd only
    std::shared_ptr<nn::Sequential> projector;
    std::unique_ptr<optim::SGD> teacher_sgd;
    std::vector<Tensor> student_params = model->parameters();
    const distill::KdLossConfig kd;  // alpha 0.3, T 3, beta 0.03, standard KL
    if (step_kind == "online-kd") {
      teacher = nn::make_model(model_name, shape[0], classes);
      teacher->to(device);
      teacher->train();
      teacher_sgd = std::make_unique<optim::SGD>(teacher->parameters(), sgd_config);
      // As kd_run.cpp: the projector joins the student's optimizer.
      projector = distill::make_projector(model->feature_dim(), teacher->feature_dim());
      projector->to(device);
      for (const Tensor& p : projector->parameters()) student_params.push_back(p);
    }
    optim::SGD sgd(std::move(student_params), sgd_config);
    Generator gen(1);
    Tensor images = random::normal({batch, shape[0], shape[1], shape[2]}, 0, 1, gen, DType::f32, device);
    Tensor labels = random::randint({batch}, 0, static_cast<int32_t>(classes), gen, device);

    auto update = [](optim::SGD& optimizer, const Tensor& loss) {
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    };
    auto one_step = [&]() {
      if (step_kind == "plain") {
        update(sgd, cross_entropy(model->forward(images).logits, labels));
      } else if (step_kind == "online-kd") {
        // kd_run.cpp's online step: both forwards, the teacher's CE step, then the
        // student's KD step from the teacher's outputs of this batch (detached).
        nn::ModelOutput t = teacher->forward(images);
        nn::ModelOutput s = model->forward(images);
        Tensor teacher_loss = cross_entropy(t.logits, labels);
        Tensor student_loss = distill::kd_student_loss(s, labels, &t, projector.get(), kd);
        update(*teacher_sgd, teacher_loss);
        update(sgd, student_loss);
      } else {
        NoGradGuard no_grad;
        Tensor logits = model->forward(images).logits;
        (void)logits;
      }
    };

    std::vector<double> ms;
    for (int step = 0; step < warmup + steps; ++step) {
      auto start = std::chrono::steady_clock::now();
      one_step();
      wait_for_device(device);
      double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (step >= warmup) ms.push_back(elapsed);
    }
    std::sort(ms.begin(), ms.end());
    double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    nlohmann::ordered_json out = {{"benchmark", "train_step"},
                                  {"framework", "engram"},
                                  {"step", step_kind},
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
