// train::bn_recalibrate on CUDA: the same model and batches recalibrated on the
// CPU and on CUDA give the same running statistics; on CUDA the parameters are
// untouched and the saved BN state restores bitwise.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "core/random.h"
#include "train/bn_recalibrate.h"
#include "train/evaluate.h"
#include "nn/models.h"
#include "tests/cases/batch.h"

using namespace engram;

namespace {

std::vector<uint8_t> bytes_of(const Tensor& t) {
  Tensor host = t.to(Device::cpu());
  std::vector<uint8_t> out(host.nbytes());
  std::memcpy(out.data(), host.raw_data(), out.size());
  return out;
}

// One resnet8 and its batches, on a device; both devices start from the same
// weights and from stale running statistics.
struct OnDevice {
  data::DeviceDataset dataset;
  data::Loader loader;
  std::shared_ptr<nn::Classifier> model;
  OnDevice(Device device, const nn::NamedTensors& state)
      : dataset(testing::synthetic_images(48, 2, 8, 8, 4), device),
        loader(data::Loader::training(dataset, 8, 3, testing::augment_spec(2, 1, true, 0))),
        model(nn::make_model("resnet8", 2, 4)) {
    model->load_state_dict(state);
    model->to(device);
    model->eval();
  }
  void recalibrate(int64_t batches) {
    train::bn_recalibrate(
        *model, loader, batches, [&](const Tensor& x) { model->forward(x); }, /*epoch=*/1);
  }
};

nn::NamedTensors stale_state() {
  manual_seed(5);
  auto model = nn::make_model("resnet8", 2, 4);
  for (nn::BatchNorm2d* bn : train::batch_norm_layers(*model)) {
    bn->running_mean.fill_(2.0);
    bn->running_var.fill_(5.0);
  }
  return model->state_dict();
}

}  // namespace

TEST_CASE("on CUDA recalibrated running statistics equal the CPU's", "[bn_recalibrate][cuda]") {
  nn::NamedTensors state = stale_state();
  OnDevice cpu(Device::cpu(), state), gpu(Device::cuda(), state);
  const int64_t K = 8;  // 6 steps an epoch: continues into the next epoch
  cpu.recalibrate(K);
  gpu.recalibrate(K);

  std::vector<nn::BatchNorm2d*> cpu_layers = train::batch_norm_layers(*cpu.model);
  std::vector<nn::BatchNorm2d*> gpu_layers = train::batch_norm_layers(*gpu.model);
  REQUIRE(gpu_layers.size() == 9);
  REQUIRE(cpu_layers.size() == gpu_layers.size());
  for (size_t l = 0; l < gpu_layers.size(); ++l) {
    INFO("BN layer " << l);
    CHECK(gpu_layers[l]->running_mean.device().is_cuda());
    CHECK(gpu_layers[l]->num_batches_tracked == cpu_layers[l]->num_batches_tracked);
    CHECK(gpu_layers[l]->momentum == cpu_layers[l]->momentum);
    std::vector<float> mean = gpu_layers[l]->running_mean.to(Device::cpu()).to_vector<float>();
    std::vector<float> var = gpu_layers[l]->running_var.to(Device::cpu()).to_vector<float>();
    std::vector<float> cpu_mean = cpu_layers[l]->running_mean.to_vector<float>();
    std::vector<float> cpu_var = cpu_layers[l]->running_var.to_vector<float>();
    for (size_t c = 0; c < mean.size(); ++c) {
      CHECK(mean[c] == Approx(cpu_mean[c]).epsilon(1e-4).margin(1e-5));
      CHECK(var[c] == Approx(cpu_var[c]).epsilon(1e-4).margin(1e-5));
      CHECK(var[c] != 5.0f);  // recalibrated, not the stale value
    }
  }
  CHECK(!gpu.model->is_training());

  // The weights the CUDA model started from, bit for bit.
  nn::NamedTensors params = gpu.model->named_parameters();
  for (const auto& [name, p] : params) {
    INFO(name);
    auto match = std::find_if(state.begin(), state.end(), [&](const auto& entry) { return entry.first == name; });
    REQUIRE(match != state.end());
    CHECK(bytes_of(p) == bytes_of(match->second));
  }
}

TEST_CASE("on CUDA the saved BN state restores bitwise and recalibration repeats", "[bn_recalibrate][cuda]") {
  OnDevice gpu(Device::cuda(), stale_state());
  nn::BatchNorm2d* stem = train::batch_norm_layers(*gpu.model).front();
  std::vector<uint8_t> stale = bytes_of(stem->running_var);
  train::BatchNormState saved(*gpu.model);
  gpu.recalibrate(3);
  std::vector<uint8_t> first = bytes_of(stem->running_var);
  CHECK(first != stale);
  saved.restore();
  CHECK(bytes_of(stem->running_var) == stale);
  gpu.recalibrate(3);
  CHECK(bytes_of(stem->running_var) == first);  // the same batches, the same bits
}
