// quickstart: the engine end to end, until the spaced-KD main job lands.
// Trains a two-layer perceptron on Fashion-MNIST with SGD (momentum 0.9) on
// the GPU if there is one, else the CPU, and prints test accuracy per epoch.
//   quickstart [--epochs N] [--hidden H] [--batch B] [--lr LR] [--data DIR] [--device auto|cpu|cuda]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/autograd.h"
#include "core/random.h"
#include "data/idx.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/matmul.h"
#include "kernels/reduce.h"
#include "kernels/sgd.h"

using namespace engram;

namespace {

// u8 images [N,1,28,28] -> f32 [N, 784], normalised with Fashion-MNIST's mean/std.
Tensor flatten_normalised(const Tensor& images) {
  const float mean = 0.2860f, stddev = 0.3530f;
  Tensor out = Tensor::empty({images.size(0), images.numel() / images.size(0)});
  const uint8_t* src = images.data<uint8_t>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) dst[i] = (src[i] / 255.0f - mean) / stddev;
  return out;
}

// Rows `order[start .. start+count)` of a host tensor [N, F] (f32 or i32), on `device`.
template <typename T>
Tensor gather_rows(const Tensor& host, const std::vector<int32_t>& order, int64_t start, int64_t count,
                   Device device) {
  int64_t row = host.numel() / host.size(0);
  Shape shape = host.shape();
  shape[0] = count;
  Tensor batch = Tensor::empty(shape, host.dtype());
  for (int64_t i = 0; i < count; ++i)
    std::copy_n(host.data<T>() + order[start + i] * row, row, batch.data<T>() + i * row);
  return device.is_cpu() ? batch : batch.to(device);
}

Tensor kaiming_uniform(Shape shape, int64_t fan_in, Generator& gen, Device device) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return random::uniform(shape, -bound, bound, gen, DType::f32, device).requires_grad_();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engram quickstart: a two-layer perceptron on Fashion-MNIST"};
  int epochs = 3, hidden = 256, batch = 128;
  double lr = 0.05;
  std::string data_dir = data::default_fashion_mnist_dir(), device_name = "auto";
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--data", data_dir, "folder with the Fashion-MNIST IDX files");
  app.add_option("--device", device_name, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  CLI11_PARSE(app, argc, argv);

  try {
    Device device = device_name == "auto" ? (cuda_available() ? Device::cuda() : Device::cpu())
                                          : Device::parse(device_name);
    data::ImageDataset train = data::load_mnist_format(data_dir, true);
    data::ImageDataset test = data::load_mnist_format(data_dir, false);
    Tensor train_x = flatten_normalised(train.images), test_x = flatten_normalised(test.images);
    std::printf("quickstart: %lld training and %lld test images from %s, device %s\n",
                static_cast<long long>(train.size()), static_cast<long long>(test.size()), data_dir.c_str(),
                device.str().c_str());

    Generator gen(0);
    int64_t features = train_x.size(1);
    std::vector<Tensor> params = {kaiming_uniform({hidden, features}, features, gen, device),
                                  kaiming_uniform({hidden}, features, gen, device),
                                  kaiming_uniform({10, hidden}, hidden, gen, device),
                                  kaiming_uniform({10}, hidden, gen, device)};
    std::vector<Tensor> momentum;
    for (const Tensor& p : params) momentum.push_back(Tensor::zeros(p.shape(), p.dtype(), device));
    auto forward = [&](const Tensor& x) {
      return linear(relu(linear(x, params[0], params[1])), params[2], params[3]);
    };
    SgdConfig sgd{lr, 0.9, 0.0, 5e-4, false};

    int64_t steps_per_epoch = train.size() / batch;
    bool first_step = true;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      auto start = std::chrono::steady_clock::now();
      std::vector<int32_t> order = random::permutation(train.size(), /*seed=*/0, /*stream=*/epoch);
      double loss_sum = 0;
      for (int64_t step = 0; step < steps_per_epoch; ++step) {
        Tensor x = gather_rows<float>(train_x, order, step * batch, batch, device);
        Tensor y = gather_rows<int32_t>(train.labels.reshape({-1, 1}), order, step * batch, batch, device)
                       .reshape({batch});
        Tensor loss = cross_entropy(forward(x), y);
        loss.backward();
        std::vector<Tensor> grads;
        for (Tensor& p : params) grads.push_back(p.grad());
        {
          NoGradGuard no_grad;
          sgd_step(params, grads, momentum, sgd, first_step);
        }
        first_step = false;
        for (Tensor& p : params) p.zero_grad();
        loss_sum += loss.item<float>();
      }
      int64_t correct = 0;
      {
        NoGradGuard no_grad;
        std::vector<int32_t> identity(test.size());
        for (int32_t i = 0; i < test.size(); ++i) identity[i] = i;
        for (int64_t start_row = 0; start_row < test.size(); start_row += 1000) {
          int64_t n = std::min<int64_t>(1000, test.size() - start_row);
          Tensor x = gather_rows<float>(test_x, identity, start_row, n, device);
          Tensor y = gather_rows<int32_t>(test.labels.reshape({-1, 1}), identity, start_row, n, device).reshape({n});
          correct += count_correct(forward(x), y).item<int32_t>();
        }
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("epoch %d: train loss %.4f, test accuracy %.2f %%, %.1f s\n", epoch + 1,
                  loss_sum / steps_per_epoch, 100.0 * correct / test.size(), seconds);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "quickstart: %s\n", e.what());
    return 1;
  }
  return 0;
}
