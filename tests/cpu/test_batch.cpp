#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <set>

#include "core/philox.h"
#include "data/batch.h"
#include "tests/cases/batch.h"

using namespace engram;
using data::AugmentSpec;

namespace {

// The draws as data/augment.h documents them, recomputed from Philox here.
struct Draws {
  int64_t crop_y = 0, crop_x = 0;
  bool flip = false;
  int64_t cutout_cy = 0, cutout_cx = 0;
  double rotation_degrees = 0;
};

Draws documented_draws(const AugmentSpec& spec, int64_t h, int64_t w, uint64_t seed, uint64_t epoch, int32_t index) {
  Draws d;
  philox::Uint4 crop = philox::random_bits(seed, (uint64_t{1} << 62) | epoch, static_cast<uint64_t>(index));
  uint64_t positions = 2 * static_cast<uint64_t>(spec.crop_padding) + 1;
  d.crop_y = static_cast<int64_t>((crop.x * positions) >> 32);
  d.crop_x = static_cast<int64_t>((crop.y * positions) >> 32);
  d.flip = spec.horizontal_flip && crop.z >= 0x80000000u;
  philox::Uint4 cut = philox::random_bits(seed, (uint64_t{1} << 63) | epoch, static_cast<uint64_t>(index));
  d.cutout_cy = static_cast<int64_t>((uint64_t{cut.x} * static_cast<uint64_t>(h)) >> 32);
  d.cutout_cx = static_cast<int64_t>((uint64_t{cut.y} * static_cast<uint64_t>(w)) >> 32);
  const int64_t steps = std::lround(spec.rotation_degrees * 10);
  philox::Uint4 turn = philox::random_bits(seed, (uint64_t{3} << 62) | epoch, static_cast<uint64_t>(index));
  d.rotation_degrees = static_cast<double>(static_cast<int64_t>((uint64_t{turn.x} * (2 * steps + 1)) >> 32) - steps) / 10;
  return d;
}

float torchvision_normalise(uint8_t v, const AugmentSpec& spec, int64_t c) {
  float scaled = static_cast<float>(v) / 255.0f;
  return spec.mean.empty() ? scaled : (scaled - spec.mean[c]) / spec.std[c];
}

// An image turned anticlockwise by `degrees` about its centre, in double:
// each output pixel reads the input at its centre rotated back, bilinear
// between the four neighbours, zero outside, rounded to the nearest byte.
std::vector<uint8_t> rotated_bilinear(const std::vector<uint8_t>& image, int64_t H, int64_t W, double degrees) {
  const double a = degrees * M_PI / 180, cx = (W - 1) / 2.0, cy = (H - 1) / 2.0;
  auto at = [&](int64_t y, int64_t x) { return y < 0 || y >= H || x < 0 || x >= W ? 0.0 : image[y * W + x]; };
  std::vector<uint8_t> out(H * W);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const double sx = cx + std::cos(a) * (x - cx) - std::sin(a) * (y - cy);
      const double sy = cy + std::sin(a) * (x - cx) + std::cos(a) * (y - cy);
      const int64_t x0 = static_cast<int64_t>(std::floor(sx)), y0 = static_cast<int64_t>(std::floor(sy));
      const double fx = sx - x0, fy = sy - y0;
      const double v = (at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx) * (1 - fy) +
                       (at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx) * fy;
      out[y * W + x] = static_cast<uint8_t>(std::lround(v));
    }
  return out;
}

// Independent reference for one sample, following torchvision literally:
// zero-pad the image, cut the crop window, mirror the rows, rotate, normalise, Cutout.
std::vector<float> reference_sample(const data::ImageDataset& ds, int32_t index, const AugmentSpec& spec, uint64_t seed,
                                    uint64_t epoch) {
  const int64_t C = ds.images.size(1), H = ds.images.size(2), W = ds.images.size(3), p = spec.crop_padding;
  const Draws d = documented_draws(spec, H, W, seed, epoch, index);
  const uint8_t* src = ds.images.data<uint8_t>() + index * C * H * W;
  std::vector<float> out;
  for (int64_t c = 0; c < C; ++c) {
    std::vector<uint8_t> padded((H + 2 * p) * (W + 2 * p), 0);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) padded[(y + p) * (W + 2 * p) + x + p] = src[(c * H + y) * W + x];
    std::vector<uint8_t> cropped(H * W);
    for (int64_t y = 0; y < H; ++y) {
      std::vector<uint8_t> row(W);
      for (int64_t x = 0; x < W; ++x) row[x] = padded[(y + d.crop_y) * (W + 2 * p) + x + d.crop_x];
      if (d.flip) std::reverse(row.begin(), row.end());
      std::copy(row.begin(), row.end(), cropped.begin() + y * W);
    }
    if (spec.rotation_degrees > 0) cropped = rotated_bilinear(cropped, H, W, d.rotation_degrees);
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        float value = torchvision_normalise(cropped[y * W + x], spec, c);
        int64_t L = spec.cutout_size, y0 = d.cutout_cy - L / 2, x0 = d.cutout_cx - L / 2;
        if (L > 0 && y >= y0 && y < y0 + L && x >= x0 && x < x0 + L) value = 0.0f;
        out.push_back(value);
      }
    }
  }
  return out;
}

struct BatchOut {
  Tensor images, labels;
};

BatchOut run_batch(const data::DeviceDataset& ds, const std::vector<int32_t>& indices, const AugmentSpec& spec,
                   uint64_t seed, uint64_t epoch) {
  int64_t b = static_cast<int64_t>(indices.size());
  BatchOut out{Tensor::empty({b, ds.channels(), ds.height(), ds.width()}), Tensor::empty({b}, DType::i32)};
  data::make_batch(ds, Tensor::from_vector(indices, {b}), spec, seed, epoch, out.images, out.labels);
  return out;
}

std::vector<float> sample_of(const Tensor& images, int64_t b) { return images.narrow_rows(b, 1).to_vector<float>(); }

}  // namespace

TEST_CASE("make_batch normalises like torchvision (hand-computed values)", "[batch]") {
  data::ImageDataset raw;
  raw.images = Tensor::from_vector<uint8_t>({0, 51, 102, 255}, {1, 1, 2, 2});
  raw.labels = Tensor::from_vector<int32_t>({7}, {1});
  raw.num_classes = 10;
  data::DeviceDataset ds(raw, Device::cpu());
  AugmentSpec spec;
  spec.mean = {0.5f};
  spec.std = {0.25f};
  BatchOut out = run_batch(ds, {0}, spec, 1, 0);
  std::vector<float> v = out.images.to_vector<float>();
  CHECK(v[0] == -2.0f);
  CHECK(v[1] == Approx(-1.2).epsilon(1e-6));
  CHECK(v[2] == Approx(-0.4).epsilon(1e-6));
  CHECK(v[3] == 2.0f);
  CHECK(out.labels.to_vector<int32_t>() == std::vector<int32_t>{7});
  spec.mean.clear();
  spec.std.clear();
  v = run_batch(ds, {0}, spec, 1, 0).images.to_vector<float>();
  CHECK(v == std::vector<float>{0.0f, 0.2f, 0.4f, 1.0f});
}

TEST_CASE("make_batch crops with zero padding and flips (hand-computed 3x3)", "[batch]") {
  data::ImageDataset raw;
  raw.images = Tensor::from_vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  raw.labels = Tensor::from_vector<int32_t>({0}, {1});
  raw.num_classes = 1;
  data::DeviceDataset ds(raw, Device::cpu());
  AugmentSpec spec;
  spec.crop_padding = 1;
  spec.horizontal_flip = true;
  // Find seeds whose documented draws give the wanted crop, then check the pixels by hand.
  auto find_seed = [&](int64_t crop_y, int64_t crop_x, bool flip) {
    for (uint64_t seed = 0; seed < 10000; ++seed) {
      Draws d = documented_draws(spec, 3, 3, seed, 0, 0);
      if (d.crop_y == crop_y && d.crop_x == crop_x && d.flip == flip) return seed;
    }
    FAIL("no seed gives the wanted draws");
    return uint64_t{0};
  };
  auto pixels = [&](uint64_t seed) {
    std::vector<float> v = run_batch(ds, {0}, spec, seed, 0).images.to_vector<float>();
    std::vector<int> bytes;
    for (float f : v) bytes.push_back(static_cast<int>(f * 255.0f + 0.5f));
    return bytes;
  };
  // Window at the padded image's top-left: the image moves down-right, zeros come in.
  CHECK(pixels(find_seed(0, 0, false)) == std::vector<int>{0, 0, 0, 0, 1, 2, 0, 4, 5});
  CHECK(pixels(find_seed(2, 1, false)) == std::vector<int>{4, 5, 6, 7, 8, 9, 0, 0, 0});
  CHECK(pixels(find_seed(1, 1, true)) == std::vector<int>{3, 2, 1, 6, 5, 4, 9, 8, 7});
  // Crop first, then flip: the zero column introduced on the left ends up on the right.
  CHECK(pixels(find_seed(1, 0, true)) == std::vector<int>{2, 1, 0, 5, 4, 0, 8, 7, 0});
}

TEST_CASE("make_batch matches the independent pad-crop-flip reference over the case table", "[batch]") {
  for (const testing::BatchCase& bc : testing::batch_cases()) {
    INFO(bc.name);
    data::ImageDataset raw = testing::synthetic_images(bc.n, bc.c, bc.h, bc.w);
    data::DeviceDataset ds(raw, Device::cpu());
    BatchOut out = run_batch(ds, bc.indices, bc.augment, bc.seed, bc.epoch);
    std::vector<int32_t> labels = out.labels.to_vector<int32_t>();
    for (size_t b = 0; b < bc.indices.size(); ++b) {
      INFO("batch position " << b << ", sample " << bc.indices[b]);
      std::vector<float> expected = reference_sample(raw, bc.indices[b], bc.augment, bc.seed, bc.epoch);
      std::vector<float> actual = sample_of(out.images, static_cast<int64_t>(b));
      REQUIRE(actual.size() == expected.size());
      if (bc.augment.rotation_degrees == 0) {
        CHECK(std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(float)) == 0);
      } else {
        // The kernel's Q30 trigonometry and Q20 weights may round a value
        // the double reference puts within ~1e-3 of a half to the other
        // byte: at most one grey level, and rarely.
        int64_t exact = 0;
        for (size_t i = 0; i < actual.size(); ++i) {
          const int64_t c = static_cast<int64_t>(i) / (bc.h * bc.w);
          const float one_level = torchvision_normalise(1, bc.augment, c) - torchvision_normalise(0, bc.augment, c);
          exact += actual[i] == expected[i];
          CHECK(std::abs(actual[i] - expected[i]) <= 1.001f * one_level);
        }
        CHECK(exact >= static_cast<int64_t>(0.999 * static_cast<double>(actual.size())));
      }
      CHECK(labels[b] == raw.labels.data<int32_t>()[bc.indices[b]]);
    }
  }
}

TEST_CASE("padding pixels are normalised zeros", "[batch]") {
  data::ImageDataset raw = testing::synthetic_images(40, 3, 8, 8);  // every pixel value is >= 2
  data::DeviceDataset ds(raw, Device::cpu());
  AugmentSpec spec = testing::augment_spec(3, 4, false, 0);
  std::vector<int32_t> indices(40);
  for (int32_t i = 0; i < 40; ++i) indices[i] = i;
  BatchOut out = run_batch(ds, indices, spec, 3, 0);
  const float* v = out.images.data<float>();
  int64_t padded = 0;
  for (int32_t i = 0; i < 40; ++i) {
    Draws d = documented_draws(spec, 8, 8, 3, 0, i);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 8; ++y)
        for (int64_t x = 0; x < 8; ++x) {
          int64_t sy = y + d.crop_y - 4, sx = x + d.crop_x - 4;
          float value = v[((i * 3 + c) * 8 + y) * 8 + x];
          if (sy < 0 || sy >= 8 || sx < 0 || sx >= 8) {
            ++padded;
            CHECK(value == torchvision_normalise(0, spec, c));
          } else {
            CHECK(value != torchvision_normalise(0, spec, c));
          }
        }
  }
  CHECK(padded > 0);
}

TEST_CASE("a sample's augmentation depends on (seed, epoch, index), not on its batch position", "[batch]") {
  data::DeviceDataset ds(testing::synthetic_images(10, 3, 32, 32), Device::cpu());
  AugmentSpec spec = testing::augment_spec(3, 4, true, 8);
  BatchOut a = run_batch(ds, {3, 5, 1}, spec, 9, 2);
  BatchOut b = run_batch(ds, {1, 3, 5, 5, 0}, spec, 9, 2);
  CHECK(sample_of(a.images, 0) == sample_of(b.images, 1));
  CHECK(sample_of(a.images, 1) == sample_of(b.images, 2));
  CHECK(sample_of(a.images, 1) == sample_of(b.images, 3));
  CHECK(sample_of(a.images, 2) == sample_of(b.images, 0));
  // Same coordinates, same bits; another epoch or seed, other draws.
  std::vector<int32_t> all = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> first = run_batch(ds, all, spec, 9, 2).images.to_vector<float>();
  CHECK(run_batch(ds, all, spec, 9, 2).images.to_vector<float>() == first);
  CHECK(run_batch(ds, all, spec, 9, 3).images.to_vector<float>() != first);
  CHECK(run_batch(ds, all, spec, 10, 2).images.to_vector<float>() != first);
}

TEST_CASE("crop offsets and flips are uniform over their range", "[batch]") {
  AugmentSpec spec = testing::augment_spec(3, 4, true, 0);
  data::BatchParams params = data::make_batch_params(spec, 3, 32, 32, 1 << 20, 1, 5, 1);
  std::vector<int> crop_y(9, 0), crop_x(9, 0);
  int flips = 0;
  const int n = 9000;
  for (int i = 0; i < n; ++i) {
    data::SampleAugment a = data::draw_sample_augment(params, static_cast<uint32_t>(i));
    REQUIRE(a.crop_y >= 0);
    REQUIRE(a.crop_y <= 8);
    REQUIRE(a.crop_x >= 0);
    REQUIRE(a.crop_x <= 8);
    ++crop_y[a.crop_y];
    ++crop_x[a.crop_x];
    flips += a.flip;
  }
  for (int k = 0; k < 9; ++k) {
    CHECK(crop_y[k] > n / 9 * 0.85);
    CHECK(crop_x[k] > n / 9 * 0.85);
  }
  CHECK(flips > n * 0.47);
  CHECK(flips < n * 0.53);
}

TEST_CASE("make_batch rejects bad arguments with errors naming make_batch", "[batch][errors]") {
  data::DeviceDataset ds(testing::synthetic_images(4, 3, 8, 8), Device::cpu());
  AugmentSpec spec = testing::augment_spec(3, 2, true, 0);
  Tensor indices = Tensor::from_vector<int32_t>({0, 3}, {2});
  Tensor images = Tensor::empty({2, 3, 8, 8});
  Tensor labels = Tensor::empty({2}, DType::i32);
  auto call = [&](const Tensor& idx, const AugmentSpec& s, const Tensor& img, const Tensor& lab, uint64_t epoch = 0) {
    data::make_batch(ds, idx, s, 1, epoch, img, lab);
  };
  CHECK_NOTHROW(call(indices, spec, images, labels));
  CHECK_THROWS_AS(call(Tensor::zeros({2}), spec, images, labels), DTypeError);
  CHECK_THROWS_AS(call(Tensor::zeros({2, 1}, DType::i32), spec, images, labels), ShapeError);
  CHECK_THROWS_AS(call(indices, spec, Tensor::empty({2, 3, 8, 8}, DType::f64), labels), DTypeError);
  CHECK_THROWS_WITH(call(indices, spec, Tensor::empty({3, 3, 8, 8}), labels), Catch::StartsWith("make_batch") &&
                                                                                  Catch::Contains("[2, 3, 8, 8]") &&
                                                                                  Catch::Contains("[3, 3, 8, 8]"));
  CHECK_THROWS_AS(call(indices, spec, images, Tensor::empty({2}, DType::f32)), DTypeError);
  CHECK_THROWS_AS(call(indices, spec, images, Tensor::empty({3}, DType::i32)), ShapeError);
  CHECK_THROWS_WITH(call(Tensor::from_vector<int32_t>({0, 4}, {2}), spec, images, labels),
                    Catch::StartsWith("make_batch") && Catch::Contains("indices[1] = 4") && Catch::Contains("[0, 4)"));
  CHECK_THROWS_AS(call(Tensor::from_vector<int32_t>({-1, 0}, {2}), spec, images, labels), ValueError);

  AugmentSpec bad = spec;
  bad.mean = {0.5f};
  CHECK_THROWS_WITH(call(indices, bad, images, labels),
                    Catch::StartsWith("make_batch") && Catch::Contains("one mean and one std per channel (3)"));
  bad = spec;
  bad.std[1] = 0.0f;
  CHECK_THROWS_WITH(call(indices, bad, images, labels),
                    Catch::StartsWith("make_batch") && Catch::Contains("channel 1") && Catch::Contains("std > 0"));
  bad = spec;
  bad.crop_padding = -1;
  CHECK_THROWS_WITH(call(indices, bad, images, labels), Catch::StartsWith("make_batch: crop_padding"));
  bad = spec;
  bad.cutout_size = -3;
  CHECK_THROWS_WITH(call(indices, bad, images, labels), Catch::StartsWith("make_batch: cutout_size"));
  CHECK_THROWS_WITH(call(indices, spec, images, labels, uint64_t{1} << 62),
                    Catch::StartsWith("make_batch: epoch must be below 2^62"));

  data::DeviceDataset five(testing::synthetic_images(2, 5, 4, 4), Device::cpu());
  CHECK_THROWS_WITH(data::make_batch(five, indices.narrow_rows(0, 1), AugmentSpec{}, 1, 0, Tensor::empty({1, 5, 4, 4}),
                                     Tensor::empty({1}, DType::i32)),
                    Catch::StartsWith("make_batch: expected 1 to 4 channels, got 5"));

  data::ImageDataset wrong = testing::synthetic_images(2, 3, 4, 4);
  wrong.images = wrong.images.to(DType::f32);
  CHECK_THROWS_WITH(data::DeviceDataset(wrong, Device::cpu()),
                    Catch::StartsWith("DeviceDataset") && Catch::Contains("u8") && Catch::Contains("f32"));
  wrong = testing::synthetic_images(2, 3, 4, 4);
  wrong.labels = Tensor::zeros({3}, DType::i32);
  CHECK_THROWS_WITH(data::DeviceDataset(wrong, Device::cpu()),
                    Catch::StartsWith("DeviceDataset") && Catch::Contains("2 images and 3 labels"));
  wrong = testing::synthetic_images(2, 3, 4, 4);
  wrong.images = wrong.images.reshape({2, 48});
  CHECK_THROWS_AS(data::DeviceDataset(wrong, Device::cpu()), ShapeError);
}

TEST_CASE("the CPU backend writes NaN and label -1 for an invalid index, like the CUDA kernel", "[batch]") {
  data::ImageDataset raw = testing::synthetic_images(3, 3, 4, 4);
  data::BatchParams params = data::make_batch_params(testing::augment_spec(3, 1, true, 0), 3, 4, 4, 3, 2, 1, 0);
  Tensor images = Tensor::empty({2, 3, 4, 4});
  Tensor labels = Tensor::empty({2}, DType::i32);
  data::cpu::make_batch(params, raw.images, raw.labels, Tensor::from_vector<int32_t>({1, 3}, {2}), images, labels);
  std::vector<float> v = images.to_vector<float>();
  for (int i = 0; i < 48; ++i) CHECK(v[i] == v[i]);
  for (int i = 48; i < 96; ++i) CHECK(v[i] != v[i]);
  CHECK(labels.to_vector<int32_t>() == std::vector<int32_t>{raw.labels.data<int32_t>()[1], -1});
}
