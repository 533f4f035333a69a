#include <catch2/catch.hpp>
#include <cstring>

#include "data/loader.h"
#include "tests/cases/batch.h"
#include "tests/support/schedule_guard.h"

using namespace engram;

// Tolerance: none. The kernel does no float arithmetic (values come from a
// table built on the host), so CUDA must equal the CPU bit for bit.

namespace {

struct HostBatch {
  std::vector<float> images;
  std::vector<int32_t> labels;
};

HostBatch run(const data::DeviceDataset& ds, const std::vector<int32_t>& indices, const data::AugmentSpec& spec,
              uint64_t seed, uint64_t epoch) {
  const int64_t b = static_cast<int64_t>(indices.size());
  const Device device = ds.device();
  Tensor images = Tensor::empty({b, ds.channels(), ds.height(), ds.width()}, DType::f32, device);
  Tensor labels = Tensor::empty({b}, DType::i32, device);
  data::make_batch(ds, Tensor::from_vector(indices, {b}, device), spec, seed, epoch, images, labels);
  return {images.to_vector<float>(), labels.to_vector<int32_t>()};
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// First differing element, for the failure message.
std::string first_difference(const std::vector<float>& a, const std::vector<float>& b,
                             const std::string& a_name = "cuda", const std::string& b_name = "cpu") {
  if (a.size() != b.size()) return "sizes differ";
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return "element " + std::to_string(i) + ": " + a_name + " " + std::to_string(a[i]) + ", " + b_name + " " +
             std::to_string(b[i]);
  return "none";
}

}  // namespace

TEST_CASE("make_batch on CUDA is bitwise equal to the CPU over the case table", "[batch][cuda]") {
  for (const testing::BatchCase& bc : testing::batch_cases()) {
    data::ImageDataset raw = testing::synthetic_images(bc.n, bc.c, bc.h, bc.w);
    data::DeviceDataset on_cpu(raw, Device::cpu());
    data::DeviceDataset on_cuda(raw, Device::cuda());
    // The case's coordinates, another seed and another epoch.
    for (auto [seed, epoch] :
         {std::pair{bc.seed, bc.epoch}, std::pair{bc.seed + 1000, bc.epoch}, std::pair{bc.seed, bc.epoch ^ 1}}) {
      INFO(bc.name << " seed " << seed << " epoch " << epoch);
      HostBatch expected = run(on_cpu, bc.indices, bc.augment, seed, epoch);
      HostBatch actual = run(on_cuda, bc.indices, bc.augment, seed, epoch);
      INFO("first difference: " << first_difference(actual.images, expected.images));
      CHECK(bitwise_equal(actual.images, expected.images));
      CHECK(actual.labels == expected.labels);
    }
  }
}

#if ENGRAM_CUDA_HOST
// On the host runtime the order of blocks and threads is chosen: a kernel
// without races gives the same bits under every schedule.
TEST_CASE("make_batch on the host runtime gives the same bits under every schedule", "[batch][cuda][schedules]") {
  const std::vector<cuda::host::Schedule> schedules = testing::invariance_schedules(false);  // in-order, reversed
  for (const testing::BatchCase& bc : testing::batch_cases()) {
    data::ImageDataset raw = testing::synthetic_images(bc.n, bc.c, bc.h, bc.w);
    data::DeviceDataset on_cuda(raw, Device::cuda());
    std::vector<HostBatch> runs;
    for (const cuda::host::Schedule& s : schedules) {
      testing::ScheduleGuard guard(s);
      runs.push_back(run(on_cuda, bc.indices, bc.augment, bc.seed, bc.epoch));
    }
    const std::string first = cuda::host::schedule_name(schedules[0]), second = cuda::host::schedule_name(schedules[1]);
    INFO("race in " << bc.name << ": images differ between schedules " << first << " and " << second << " at "
                    << first_difference(runs[0].images, runs[1].images, first, second));
    CHECK(bitwise_equal(runs[0].images, runs[1].images));
    CHECK(runs[0].labels == runs[1].labels);
  }
}
#endif

TEST_CASE("CUDA make_batch writes only its output rows (views with offsets)", "[batch][cuda]") {
  for (auto [h, w] : {std::pair{5, 7}, std::pair{8, 8}}) {
    INFO(h << "x" << w);
    data::ImageDataset raw = testing::synthetic_images(9, 3, h, w);
    data::AugmentSpec spec = testing::augment_spec(3, 2, true, 3);
    // The dataset is itself a view (rows 2..8) of the device tensors.
    data::DeviceDataset full(raw, Device::cuda());
    data::DeviceDataset view = full;
    view.images = full.images.narrow_rows(2, 7);
    view.labels = full.labels.narrow_rows(2, 7);
    data::ImageDataset raw_view = raw;
    raw_view.images = raw.images.narrow_rows(2, 7);
    raw_view.labels = raw.labels.narrow_rows(2, 7);
    data::DeviceDataset reference(raw_view, Device::cpu());

    std::vector<int32_t> indices = {6, 0, 3, 3};
    const float sentinel = 12345.0f;
    Tensor images = Tensor::full({6, 3, h, w}, sentinel, DType::f32, Device::cuda());
    Tensor labels = Tensor::full({6}, -7, DType::i32, Device::cuda());
    data::make_batch(view, Tensor::from_vector(indices, {4}, Device::cuda()), spec, 5, 1, images.narrow_rows(1, 4),
                     labels.narrow_rows(1, 4));
    HostBatch expected = run(reference, indices, spec, 5, 1);
    std::vector<float> all = images.to_vector<float>();
    const size_t sample = static_cast<size_t>(3 * h * w);
    std::vector<float> written(all.begin() + sample, all.begin() + 5 * sample);
    CHECK(bitwise_equal(written, expected.images));
    for (size_t i = 0; i < sample; ++i) {
      CHECK(all[i] == sentinel);
      CHECK(all[5 * sample + i] == sentinel);
    }
    std::vector<int32_t> all_labels = labels.to_vector<int32_t>();
    CHECK(all_labels.front() == -7);
    CHECK(all_labels.back() == -7);
    CHECK(std::vector<int32_t>(all_labels.begin() + 1, all_labels.end() - 1) == expected.labels);
  }
}

TEST_CASE("an invalid index gives NaN images and label -1 on CUDA, like the CPU backend", "[batch][cuda]") {
  data::ImageDataset raw = testing::synthetic_images(4, 3, 8, 8);
  data::BatchParams params = data::make_batch_params(testing::augment_spec(3, 2, true, 0), 3, 8, 8, 4, 3, 1, 0);
  std::vector<int32_t> indices = {2, 4, -1};
  Tensor cpu_images = Tensor::empty({3, 3, 8, 8}), cpu_labels = Tensor::empty({3}, DType::i32);
  data::cpu::make_batch(params, raw.images, raw.labels, Tensor::from_vector(indices, {3}), cpu_images, cpu_labels);
  data::DeviceDataset ds(raw, Device::cuda());
  Tensor images = Tensor::empty({3, 3, 8, 8}, DType::f32, Device::cuda());
  Tensor labels = Tensor::empty({3}, DType::i32, Device::cuda());
  data::cuda::make_batch(params, ds.images, ds.labels, Tensor::from_vector(indices, {3}, Device::cuda()), images,
                         labels);
  CHECK(bitwise_equal(images.to_vector<float>(), cpu_images.to_vector<float>()));
  CHECK(labels.to_vector<int32_t>() == std::vector<int32_t>{raw.labels.data<int32_t>()[2], -1, -1});
}

TEST_CASE("the loader on CUDA gives the CPU loader's batches bitwise", "[loader][cuda]") {
  data::ImageDataset raw = testing::synthetic_images(70, 3, 32, 32, 10);
  data::AugmentSpec augment = testing::augment_spec(3, 4, true, 8);
  data::Loader cpu_loader = data::Loader::training(data::DeviceDataset(raw, Device::cpu()), 16, 2024, augment);
  data::Loader cuda_loader = data::Loader::training(data::DeviceDataset(raw, Device::cuda()), 16, 2024, augment);
  REQUIRE(cuda_loader.steps_per_epoch() == 4);
  // Replays of resident epoch orders (0 after 1) and of evicted ones (0 after 2..5).
  for (uint64_t epoch : {0, 1, 0, 2, 3, 4, 5, 0}) {
    for (int64_t step = 0; step < 4; ++step) {
      INFO("epoch " << epoch << " step " << step);
      data::Batch expected = cpu_loader.batch(epoch, step);
      data::Batch actual = cuda_loader.batch(epoch, step);
      CHECK(actual.images.device().is_cuda());
      CHECK(actual.indices.to_vector<int32_t>() == expected.indices.to_vector<int32_t>());
      CHECK(bitwise_equal(actual.images.to_vector<float>(), expected.images.to_vector<float>()));
      CHECK(actual.labels.to_vector<int32_t>() == expected.labels.to_vector<int32_t>());
    }
  }
  data::Loader cpu_eval = data::Loader::evaluation(data::DeviceDataset(raw, Device::cpu()), 32, augment);
  data::Loader cuda_eval = data::Loader::evaluation(data::DeviceDataset(raw, Device::cuda()), 32, augment);
  REQUIRE(cuda_eval.steps_per_epoch() == 3);
  data::Batch last = cuda_eval.batch(0, 2);
  CHECK(last.size() == 6);
  CHECK(bitwise_equal(last.images.to_vector<float>(), cpu_eval.batch(0, 2).images.to_vector<float>()));
}
