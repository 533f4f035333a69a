#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/random.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "tests/cases/batch.h"

using namespace engram;

namespace {

std::vector<int32_t> sorted(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<int32_t> iota(int32_t n) {
  std::vector<int32_t> v(n);
  for (int32_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("EpochSampler shuffles each epoch into a reproducible permutation", "[loader]") {
  data::EpochSampler sampler(1000, 64, 17);
  std::vector<int32_t> e0 = sampler.order(0), e1 = sampler.order(1);
  CHECK(sorted(e0) == iota(1000));  // covers the set, each index once
  CHECK(sorted(e1) == iota(1000));
  CHECK(e0 != e1);                                         // differs per epoch
  CHECK(e0 != iota(1000));                                 // is shuffled
  CHECK(data::EpochSampler(1000, 64, 17).order(1) == e1);  // reproducible
  CHECK(data::EpochSampler(1000, 64, 18).order(1) != e1);  // depends on the seed
  CHECK(e1 == random::permutation(1000, 17, 1));           // the documented stream
}

TEST_CASE("EpochSampler cuts epochs into steps", "[loader]") {
  data::EpochSampler train(10, 3, 5);  // drop_last by default
  CHECK(train.steps_per_epoch() == 3);
  data::EpochSampler eval(10, 3, 5, /*shuffle=*/false, /*drop_last=*/false);
  CHECK(eval.steps_per_epoch() == 4);
  CHECK(eval.step_size(3) == 1);
  CHECK(eval.order(7) == iota(10));
  CHECK(eval.batch_indices(2, 3) == std::vector<int32_t>{9});
  CHECK(eval.batch_indices(0, 1) == std::vector<int32_t>{3, 4, 5});

  std::vector<int32_t> order = train.order(4);
  std::vector<int32_t> seen;
  for (int64_t step = 0; step < train.steps_per_epoch(); ++step) {
    std::vector<int32_t> indices = train.batch_indices(4, step);
    CHECK(indices == std::vector<int32_t>(order.begin() + 3 * step, order.begin() + 3 * step + 3));
    seen.insert(seen.end(), indices.begin(), indices.end());
  }
  CHECK(std::set<int32_t>(seen.begin(), seen.end()).size() == 9);  // one sample dropped, none repeated

  CHECK_THROWS_WITH(train.batch_indices(0, 3), Catch::StartsWith("EpochSampler: step 3") && Catch::Contains("[0, 3)"));
  CHECK_THROWS_AS(train.step_size(-1), ValueError);
  CHECK_THROWS_WITH(data::EpochSampler(10, 0, 1), Catch::StartsWith("EpochSampler: batch_size"));
  CHECK_THROWS_WITH(data::EpochSampler(0, 4, 1), Catch::StartsWith("EpochSampler: dataset size"));
  CHECK_THROWS_WITH(data::EpochSampler(10, 11, 1), Catch::StartsWith("EpochSampler") && Catch::Contains("no batch"));
  CHECK(data::EpochSampler(10, 11, 1, true, false).steps_per_epoch() == 1);
}

TEST_CASE("Loader batches are the sampler's indices through make_batch, and regenerate bitwise", "[loader]") {
  data::DeviceDataset ds(testing::synthetic_images(50, 3, 8, 8), Device::cpu());
  data::AugmentSpec augment = testing::augment_spec(3, 2, true, 3);
  data::Loader loader = data::Loader::training(ds, 8, 99, augment);
  CHECK(loader.steps_per_epoch() == 6);

  data::Batch first = loader.batch(1, 2);
  std::vector<float> first_images = first.images.to_vector<float>();
  std::vector<int32_t> first_labels = first.labels.to_vector<int32_t>();
  std::vector<int32_t> indices = loader.sampler().batch_indices(1, 2);
  CHECK(first.indices.to_vector<int32_t>() == indices);
  CHECK(first.epoch == 1);
  CHECK(first.step == 2);
  CHECK(first.size() == 8);

  Tensor images = Tensor::empty({8, 3, 8, 8}), labels = Tensor::empty({8}, DType::i32);
  data::make_batch(ds, Tensor::from_vector(indices, {8}), augment, 99, 1, images, labels);
  CHECK(images.to_vector<float>() == first_images);
  CHECK(labels.to_vector<int32_t>() == first_labels);

  // Other batches of other epochs in between; then (1, 2) again: the same bits, in the same buffer.
  // Six other epochs evict epoch 1's resident order, so it is rebuilt from (seed, epoch).
  for (uint64_t epoch : {2, 3, 0, 4, 5, 6})
    for (int64_t step = 0; step < loader.steps_per_epoch(); ++step) loader.batch(epoch, step);
  data::Batch again = loader.batch(1, 2);
  CHECK(again.images.raw_data() == first.images.raw_data());  // buffers are reused, nothing allocated
  std::vector<float> again_images = again.images.to_vector<float>();
  CHECK(std::memcmp(again_images.data(), first_images.data(), first_images.size() * sizeof(float)) == 0);
  CHECK(again.labels.to_vector<int32_t>() == first_labels);

  Tensor into_images = Tensor::empty({8, 3, 8, 8}), into_labels = Tensor::empty({8}, DType::i32);
  loader.batch_into(1, 2, into_images, into_labels);
  CHECK(into_images.to_vector<float>() == first_images);
  CHECK(loader.batch_indices(1, 2).to_vector<int32_t>() == indices);
  CHECK(loader.batch(2, 2).images.to_vector<float>() != first_images);
}

TEST_CASE("the evaluation loader visits the set in order, unaugmented, with a short last batch", "[loader]") {
  data::ImageDataset raw = testing::synthetic_images(11, 1, 5, 5);
  data::DeviceDataset ds(raw, Device::cpu());
  data::AugmentSpec augment = testing::augment_spec(1, 2, true, 2);
  data::Loader loader = data::Loader::evaluation(ds, 4, augment);
  CHECK(loader.steps_per_epoch() == 3);
  CHECK(!loader.options().augment.is_random());
  std::vector<int32_t> labels;
  for (int64_t step = 0; step < 3; ++step) {
    data::Batch batch = loader.batch(0, step);
    CHECK(batch.size() == (step < 2 ? 4 : 3));
    std::vector<float> values = batch.images.to_vector<float>();
    const uint8_t* pixels = raw.images.data<uint8_t>() + step * 4 * 25;
    for (size_t i = 0; i < values.size(); ++i)
      CHECK(values[i] == (static_cast<float>(pixels[i]) / 255.0f - augment.mean[0]) / augment.std[0]);
    for (int32_t label : batch.labels.to_vector<int32_t>()) labels.push_back(label);
  }
  CHECK(labels == raw.labels.to_vector<int32_t>());
  std::vector<float> epoch0 = loader.batch(0, 1).images.to_vector<float>();
  CHECK(loader.batch(5, 1).images.to_vector<float>() == epoch0);  // no randomness in evaluation
}

TEST_CASE("Loader rejects a bad augmentation spec at construction", "[loader][errors]") {
  data::DeviceDataset ds(testing::synthetic_images(10, 3, 4, 4), Device::cpu());
  data::AugmentSpec augment = testing::augment_spec(1, 0, false, 0);  // one mean for three channels
  CHECK_THROWS_WITH(data::Loader::training(ds, 4, 1, augment), Catch::Contains("one mean and one std per channel"));
  CHECK_THROWS_AS(data::Loader::training(ds, 20, 1, testing::augment_spec(3, 0, false, 0)), ValueError);
}

TEST_CASE("dataset specs carry the usual constants and default augmentation", "[loader][dataset]") {
  data::DatasetSpec cifar10 = data::dataset_spec("cifar10");
  CHECK(cifar10.num_classes == 10);
  CHECK(cifar10.train_augment.mean == std::vector<float>{0.4914f, 0.4822f, 0.4465f});
  CHECK(cifar10.train_augment.std == std::vector<float>{0.2470f, 0.2435f, 0.2616f});
  CHECK(cifar10.train_augment.crop_padding == 4);
  CHECK(cifar10.train_augment.horizontal_flip);
  CHECK(cifar10.train_augment.cutout_size == 0);
  CHECK(!cifar10.test_augment().is_random());
  CHECK(cifar10.test_augment().mean == cifar10.train_augment.mean);
  data::DatasetSpec cifar100 = data::dataset_spec("cifar100");
  CHECK(cifar100.num_classes == 100);
  CHECK(cifar100.train_augment.mean == std::vector<float>{0.5071f, 0.4865f, 0.4409f});
  CHECK(cifar100.train_augment.std == std::vector<float>{0.2673f, 0.2564f, 0.2762f});
  data::DatasetSpec tiny = data::dataset_spec("tiny-imagenet");
  CHECK(tiny.num_classes == 200);
  CHECK(tiny.height == 64);
  CHECK(tiny.train_augment.crop_padding == 8);
  CHECK(tiny.train_augment.mean == std::vector<float>{0.4802f, 0.4481f, 0.3975f});
  CHECK(tiny.train_augment.std == std::vector<float>{0.2302f, 0.2265f, 0.2262f});
  data::DatasetSpec fashion = data::dataset_spec("fashion-mnist");
  CHECK(fashion.channels == 1);
  CHECK(fashion.train_augment.mean == std::vector<float>{0.2860f});
  CHECK(fashion.train_augment.std == std::vector<float>{0.3530f});
  CHECK(fashion.train_augment.crop_padding == 2);
  CHECK(!fashion.train_augment.horizontal_flip);
  CHECK(data::dataset_spec("mnist").train_augment.mean == std::vector<float>{0.1307f});
  CHECK(data::dataset_names().size() == 5);
  CHECK_THROWS_WITH(data::dataset_spec("imagenet"),
                    Catch::StartsWith("dataset_spec: unknown dataset \"imagenet\"") && Catch::Contains("cifar100"));
  CHECK_THROWS_AS(data::load_dataset("svhn", "/tmp", true), ValueError);
  // No folder given: the spec's default folder, named when its files are missing.
  CHECK_THROWS_WITH(data::load_dataset("cifar10", "", true), Catch::Contains("datasets/cifar-10-batches-bin"));
  CHECK_THROWS_AS(data::load_dataset("cifar10", "/nonexistent/engram", true), IOError);
}

TEST_CASE("real Fashion-MNIST through load_dataset and the loader", "[loader][dataset][real]") {
  if (!std::filesystem::exists(data::default_fashion_mnist_dir() + "/t10k-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST not installed: skipped");
    return;
  }
  data::ImageDataset test = data::load_dataset("fashion-mnist", "", /*train=*/false);
  CHECK(test.size() == 10000);
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  data::DatasetSpec spec = data::dataset_spec("fashion-mnist");
  data::DeviceDataset ds(test, Device::cpu());
  data::Loader loader = data::Loader::training(ds, 128, 1, spec.train_augment);
  CHECK(loader.steps_per_epoch() == 78);
  data::Batch batch = loader.batch(0, 77);
  std::vector<float> values = batch.images.to_vector<float>();
  // Normalised values lie between those of pixel 0 and pixel 255.
  float low = -0.2860f / 0.3530f, high = (1.0f - 0.2860f) / 0.3530f;
  CHECK(*std::min_element(values.begin(), values.end()) >= low);
  CHECK(*std::max_element(values.begin(), values.end()) <= high);
  for (int32_t label : batch.labels.to_vector<int32_t>()) CHECK((label >= 0 && label < 10));
}
