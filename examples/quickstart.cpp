// quickstart: engram's API on one page. A two-layer perceptron (nn::Linear,
// nn::ReLU) learns Fashion-MNIST with optim::SGD from data::Loader batches,
// on the GPU if there is one, else the CPU, and prints the test accuracy
// after every epoch. The training programs (train, spaced_kd) are these same
// pieces driven by the run loop, train::run.
//   quickstart [--epochs N] [--hidden H] [--batch B] [--lr LR] [--data DIR] [--device auto|cpu|cuda]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "core/autograd.h"
#include "core/random.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "nn/layers.h"
#include "optim/optimizer.h"

using namespace engram;

int main(int argc, char** argv) {
  CLI::App app{"engram quickstart: a two-layer perceptron on Fashion-MNIST"};
  int64_t epochs = 3, hidden = 256, batch = 128;
  double lr = 0.05;
  std::string data_dir, device_name = "auto";
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--data", data_dir, "folder with the Fashion-MNIST IDX files (default: Debian's)");
  app.add_option("--device", device_name, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  CLI11_PARSE(app, argc, argv);

  try {
    Device device = resolve_device(parse_device_request(device_name), "quickstart");
    // The dataset, resident on the device; the loaders build normalised
    // batches there (no augmentation here: the perceptron sees flat pixels).
    const data::DatasetSpec spec = data::dataset_spec("fashion-mnist");
    data::DeviceDataset train_set(data::load_dataset(spec.name, data_dir, /*train=*/true), device);
    data::DeviceDataset test_set(data::load_dataset(spec.name, data_dir, /*train=*/false), device);
    data::Loader train_loader = data::Loader::training(train_set, batch, /*seed=*/0, spec.test_augment());
    data::Loader test_loader = data::Loader::evaluation(test_set, 1000, spec.test_augment());
    std::printf("quickstart: %lld training and %lld test images, device %s\n",
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()),
                device.str().c_str());

    manual_seed(0);  // the layers initialise from the default generator, as torch.manual_seed
    const int64_t pixels = spec.channels * spec.height * spec.width;
    nn::Sequential model({std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(pixels, hidden),
                          std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(hidden, spec.num_classes)});
    model.to(device);
    SgdConfig sgd;
    sgd.lr = lr;
    sgd.momentum = 0.9;
    sgd.weight_decay = 5e-4;
    optim::SGD optimizer(model.parameters(), sgd);

    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      auto start = std::chrono::steady_clock::now();
      model.train();
      Tensor loss;
      for (int64_t step = 0; step < train_loader.steps_per_epoch(); ++step) {
        data::Batch b = train_loader.batch(static_cast<uint64_t>(epoch), step);
        loss = cross_entropy(model.forward(b.images), b.labels);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
      }
      model.eval();
      int64_t correct = 0;
      {
        NoGradGuard no_grad;
        for (int64_t step = 0; step < test_loader.steps_per_epoch(); ++step) {
          data::Batch b = test_loader.batch(0, step);
          correct += count_correct(model.forward(b.images), b.labels).item<int32_t>();
        }
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("epoch %lld: last step's loss %.4f, test accuracy %.2f %%, %.1f s\n", static_cast<long long>(epoch + 1),
                  loss.item<float>(), 100.0 * static_cast<double>(correct) / static_cast<double>(test_set.size()),
                  seconds);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
