// train/bn_recalibrate.h: running statistics recomputed as exact averages over K
// training batches, checked against statistics the test computes itself.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "core/autograd.h"
#include "core/error.h"
#include "core/random.h"
#include "kernels/conv2d.h"
#include "kernels/pool.h"
#include "train/bn_recalibrate.h"
#include "train/evaluate.h"
#include "nn/models.h"
#include "tests/cases/batch.h"

using namespace engram;

namespace {

// bn0 sees the images themselves; bn1 sees conv(bn0(images)).
class TwoNorms : public nn::Classifier {
 public:
  TwoNorms() {
    bn0 = register_module("bn0", std::make_shared<nn::BatchNorm2d>(2));
    conv = register_module("conv", std::make_shared<nn::Conv2d>(2, 3, 3, 1, 1, 1, 1, false));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(3));
    linear = register_module("linear", std::make_shared<nn::Linear>(3, 4));
    feature_dim_ = 3;
    num_classes_ = 4;
  }
  nn::ModelOutput forward(const Tensor& x) override {
    Tensor features = global_avg_pool2d(bn1->forward_relu(conv->forward(bn0->forward(x))));
    return {features, linear->forward(features)};
  }
  std::shared_ptr<nn::BatchNorm2d> bn0, bn1;
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::Linear> linear;
};

// Per-channel mean and unbiased variance of x [N, C, H, W], in double.
void channel_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t n = x.size(0), c = x.size(1), plane = x.size(2) * x.size(3);
  std::vector<float> v = x.to_vector<float>();
  mean.assign(c, 0.0);
  var.assign(c, 0.0);
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < plane; ++j) sum += v[(i * c + ch) * plane + j];
    mean[ch] = sum / static_cast<double>(n * plane);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < plane; ++j) {
        double d = v[(i * c + ch) * plane + j] - mean[ch];
        squares += d * d;
      }
    var[ch] = squares / static_cast<double>(n * plane - 1);
  }
}

// (x - batch mean) / sqrt(biased batch var + eps) * w + b per channel: what
// BN in train mode outputs, computed here without the BN kernels.
Tensor normalise_like_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t n = x.size(0), c = x.size(1), plane = x.size(2) * x.size(3);
  std::vector<double> mean, var;
  channel_stats(x, mean, var);
  std::vector<float> v = x.to_vector<float>(), w = weight.to_vector<float>(), b = bias.to_vector<float>();
  for (int64_t ch = 0; ch < c; ++ch) {
    double biased = var[ch] * static_cast<double>(n * plane - 1) / static_cast<double>(n * plane);
    double invstd = 1.0 / std::sqrt(biased + eps);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < plane; ++j) {
        float& e = v[(i * c + ch) * plane + j];
        e = static_cast<float>((e - mean[ch]) * invstd * w[ch] + b[ch]);
      }
  }
  return Tensor::from_vector<float>(v, x.shape());
}

std::vector<std::vector<float>> values_of(const nn::NamedTensors& tensors) {
  std::vector<std::vector<float>> out;
  for (const auto& entry : tensors) out.push_back(entry.second.to_vector<float>());
  return out;
}

struct Fixture {
  data::DeviceDataset dataset{testing::synthetic_images(40, 2, 6, 6, 4), Device::cpu()};
  data::Loader loader = data::Loader::training(dataset, 8, 5, testing::augment_spec(2, 1, true, 0));
  TwoNorms model;
  Fixture() {
    manual_seed(11);
    // Trained-looking BN affine parameters and stale running statistics.
    model.bn0->weight.copy_(Tensor::from_vector<float>({1.5f, 0.5f}, {2}));
    model.bn0->bias.copy_(Tensor::from_vector<float>({0.2f, -0.1f}, {2}));
    model.bn1->running_mean.fill_(3.0);
    model.bn1->running_var.fill_(7.0);
    model.bn0->num_batches_tracked = 100;
  }
  void recalibrate(int64_t batches, uint64_t epoch = 2) {
    train::bn_recalibrate(
        model, loader, batches, [&](const Tensor& x) { model.forward(x); }, epoch);
  }
};

}  // namespace

TEST_CASE("running statistics become the exact averages over K batches", "[bn_recalibrate]") {
  Fixture f;
  f.model.eval();
  const int64_t K = 7;  // more than the 5 steps of an epoch: continues into epoch 3
  nn::NamedTensors params_before;
  for (const auto& [name, p] : f.model.named_parameters()) params_before.push_back({name, p.clone()});
  f.recalibrate(K);

  // The test's own statistics of each BN layer's inputs, batch by batch.
  std::vector<double> mean0(2, 0.0), var0(2, 0.0), mean1(3, 0.0), var1(3, 0.0);
  for (int64_t k = 0; k < K; ++k) {
    Tensor images = f.loader.batch(2 + k / 5, k % 5).images.clone();
    std::vector<double> m, v;
    channel_stats(images, m, v);
    for (int ch = 0; ch < 2; ++ch) mean0[ch] += m[ch] / K, var0[ch] += v[ch] / K;
    Tensor conv_in = normalise_like_training(images, f.model.bn0->weight, f.model.bn0->bias, f.model.bn0->eps);
    Tensor conv_out;
    {
      NoGradGuard no_grad;
      conv_out = conv2d(conv_in, f.model.conv->weight, Tensor(), Conv2dParams::square(1, 1));
    }
    channel_stats(conv_out, m, v);
    for (int ch = 0; ch < 3; ++ch) mean1[ch] += m[ch] / K, var1[ch] += v[ch] / K;
  }
  auto check_close = [](const Tensor& actual, const std::vector<double>& expected) {
    std::vector<float> a = actual.to_vector<float>();
    REQUIRE(a.size() == expected.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(expected[i]).epsilon(2e-5).margin(1e-6));
  };
  check_close(f.model.bn0->running_mean, mean0);
  check_close(f.model.bn0->running_var, var0);
  check_close(f.model.bn1->running_mean, mean1);
  check_close(f.model.bn1->running_var, var1);

  // Parameters untouched, bit for bit; momentum, mode and the batch count as documented.
  nn::NamedTensors params_after = f.model.named_parameters();
  CHECK(values_of(params_after) == values_of(params_before));
  CHECK(f.model.bn0->momentum == 0.1);
  CHECK(!f.model.is_training());
  CHECK(f.model.bn0->num_batches_tracked == 100 + K);
  CHECK(train::batch_norm_layers(f.model).size() == 2);
}

TEST_CASE("recalibration and evaluation are repeatable; the saved state restores exactly", "[bn_recalibrate]") {
  Fixture f;
  data::DeviceDataset test_set(testing::synthetic_images(20, 2, 6, 6, 4), Device::cpu());
  data::Loader test_loader = data::Loader::evaluation(test_set, 6, testing::augment_spec(2, 0, false, 0));
  auto logits = [&](const Tensor& x) { return f.model.forward(x).logits; };

  std::vector<float> stale_mean = f.model.bn1->running_mean.to_vector<float>();
  train::BatchNormState saved(f.model);
  f.recalibrate(3);
  std::vector<float> first_mean = f.model.bn1->running_mean.to_vector<float>();
  train::Evaluation a = train::evaluate(f.model, test_loader, logits);
  train::Evaluation b = train::evaluate(f.model, test_loader, logits);
  CHECK(a.accuracy == b.accuracy);
  CHECK(a.loss == b.loss);
  CHECK(first_mean != stale_mean);

  saved.restore();
  CHECK(f.model.bn1->running_mean.to_vector<float>() == stale_mean);
  CHECK(f.model.bn0->num_batches_tracked == 100);
  f.recalibrate(3);
  CHECK(f.model.bn1->running_mean.to_vector<float>() == first_mean);  // the same batches, the same result

  CHECK_THROWS_AS(f.recalibrate(0), ValueError);
}

TEST_CASE("recalibration works on a zoo model and leaves its outputs finite", "[bn_recalibrate]") {
  manual_seed(2);
  auto model = nn::make_model("resnet8", 2, 4);
  data::DeviceDataset dataset(testing::synthetic_images(32, 2, 8, 8, 4), Device::cpu());
  data::Loader loader = data::Loader::training(dataset, 8, 1, testing::augment_spec(2, 1, false, 0));
  train::bn_recalibrate(*model, loader, 4, [&](const Tensor& x) { model->forward(x); });
  CHECK(train::batch_norm_layers(*model).size() == 9);  // stem, 2 per block x 3 blocks, 2 projection shortcuts
  for (nn::BatchNorm2d* bn : train::batch_norm_layers(*model))
    for (float v : bn->running_var.to_vector<float>()) CHECK((std::isfinite(v) && v >= 0));
}
