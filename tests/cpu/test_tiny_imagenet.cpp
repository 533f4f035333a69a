#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "data/dataset.h"
#include "data/image_cache.h"
#include "data/tiny_imagenet.h"
#include "tests/support/jpeg_files.h"

#include <cstdio>

#include <jpeglib.h>

using namespace engram;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engram_tiny_" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// Four flat quadrants whose colours depend on `seed` (flat areas survive JPEG almost exactly).
std::vector<uint8_t> quadrant_image(int seed, int width = 64, int height = 64) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width * height * 3));
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        int quadrant = (y >= height / 2) * 2 + (x >= width / 2);
        rgb[(y * width + x) * 3 + c] = static_cast<uint8_t>((seed * 53 + quadrant * 61 + c * 89) % 200 + 20);
      }
  return rgb;
}

void write_jpeg_pixels(const fs::path& path, const std::vector<uint8_t>& pixels, int width, int height,
                       int components) {
  fs::create_directories(path.parent_path());
  const std::vector<uint8_t> bytes = testing::encode_jpeg(pixels, width, height, components);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                               static_cast<std::streamsize>(bytes.size()));
}

void write_jpeg(const fs::path& path, int seed, int width = 64, int height = 64) {
  write_jpeg_pixels(path, quadrant_image(seed, width, height), width, height, 3);
}

// A grayscale JPEG: flat `value`, first row a ramp.
void write_gray(const fs::path& path, uint8_t value) {
  std::vector<uint8_t> gray(64 * 64, value);
  for (int x = 0; x < 64; ++x) gray[x] = static_cast<uint8_t>(x * 3);
  write_jpeg_pixels(path, gray, 64, 64, 1);
}

// libjpeg's decode of `file` with its defaults (PIL's), as RGB HWC bytes.
std::vector<uint8_t> libjpeg_rgb(const fs::path& file) {
  FILE* in = std::fopen(file.c_str(), "rb");
  REQUIRE(in != nullptr);
  jpeg_decompress_struct info;
  jpeg_error_mgr errors;
  info.err = jpeg_std_error(&errors);
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, in);
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  std::vector<uint8_t> rgb(info.output_width * info.output_height * 3);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = rgb.data() + info.output_scanline * info.output_width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  std::fclose(in);
  return rgb;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// wnids deliberately not in alphabetical order: labels follow the file.
// train: n03 x2, n01 x2 (the second grayscale), n02 x1; val: 3 images.
fs::path write_tree(const fs::path& root) {
  write_text(root / "wnids.txt", "n03\nn01\r\n\nn02\n");
  write_jpeg(root / "train/n03/images/n03_0.JPEG", 1);
  write_jpeg(root / "train/n03/images/n03_1.JPEG", 2);
  write_text(root / "train/n03/n03_boxes.txt", "n03_0.JPEG\t0\t0\t63\t63\n");
  write_jpeg(root / "train/n01/images/n01_0.JPEG", 3);
  write_gray(root / "train/n01/images/n01_1.JPEG", 77);
  write_jpeg(root / "train/n02/images/n02_0.JPEG", 4);
  write_jpeg(root / "val/images/val_0.JPEG", 5);
  write_jpeg(root / "val/images/val_1.JPEG", 6);
  write_jpeg(root / "val/images/val_2.JPEG", 7);
  write_text(root / "val/val_annotations.txt",
             "val_0.JPEG\tn02\t0\t0\t63\t63\nval_1.JPEG\tn03\t1\t2\t30\t40\nval_2.JPEG\tn01\t5\t5\t60\t60\n");
  return root;
}

// Checks that sample i of `ds` is the file decoded by libjpeg, transposed HWC -> CHW.
void check_decoded(const data::ImageDataset& ds, int64_t i, const fs::path& file) {
  const std::vector<uint8_t> hwc = libjpeg_rgb(file);
  REQUIRE(hwc.size() == 3 * 64 * 64);
  const uint8_t* chw = ds.images.data<uint8_t>() + i * 3 * 64 * 64;
  int mismatches = 0;
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 64 * 64; ++p) mismatches += chw[c * 4096 + p] != hwc[p * 3 + c];
  INFO(file);
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("Tiny-ImageNet train and val load with labels in wnids.txt order", "[data][tiny_imagenet]") {
  TempDir dir;
  fs::path root = write_tree(dir.path);
  data::ImageDataset train = data::load_tiny_imagenet(root.string(), /*train=*/true);
  CHECK(train.name == "tiny-imagenet");
  CHECK(train.num_classes == 3);
  CHECK(train.images.shape() == Shape{5, 3, 64, 64});
  CHECK(train.labels.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 1, 1, 2});
  check_decoded(train, 0, root / "train/n03/images/n03_0.JPEG");
  check_decoded(train, 1, root / "train/n03/images/n03_1.JPEG");
  check_decoded(train, 2, root / "train/n01/images/n01_0.JPEG");
  check_decoded(train, 4, root / "train/n02/images/n02_0.JPEG");
  // Flat colours come back within JPEG's error at quadrant centres.
  std::vector<uint8_t> original = quadrant_image(2);
  for (int c = 0; c < 3; ++c)
    for (auto [y, x] : {std::pair{16, 16}, std::pair{16, 48}, std::pair{48, 16}, std::pair{48, 48}})
      CHECK(std::abs(train.images.at<uint8_t>({1, c, y, x}) - original[(y * 64 + x) * 3 + c]) <= 3);
  // A grayscale JPEG: R = G = B = the gray value, as PIL's convert("RGB").
  check_decoded(train, 3, root / "train/n01/images/n01_1.JPEG");
  for (int c = 1; c < 3; ++c)
    for (auto [y, x] : {std::pair{0, 10}, std::pair{33, 20}})
      CHECK(train.images.at<uint8_t>({3, c, y, x}) == train.images.at<uint8_t>({3, 0, y, x}));
  CHECK(std::abs(train.images.at<uint8_t>({3, 0, 0, 10}) - 30) <= 2);
  CHECK(std::abs(train.images.at<uint8_t>({3, 0, 33, 20}) - 77) <= 1);

  data::ImageDataset val = data::load_tiny_imagenet(root.string(), /*train=*/false);
  CHECK(val.labels.to_vector<int32_t>() == std::vector<int32_t>{2, 0, 1});
  check_decoded(val, 1, root / "val/images/val_1.JPEG");
  // The parent of tiny-imagenet-200 works too, and load_dataset reads val as the test split.
  TempDir parent;
  write_tree(parent.path / "tiny-imagenet-200");
  CHECK(data::load_dataset("tiny-imagenet", parent.path.string(), false).labels.to_vector<int32_t>() ==
        std::vector<int32_t>{2, 0, 1});
}

TEST_CASE("a truncated JPEG or a file of another format is an error naming it", "[data][tiny_imagenet][errors]") {
  TempDir dir;
  fs::path root = write_tree(dir.path);
  const fs::path jpeg = root / "val/images/val_2.JPEG";
  const std::string whole = read_bytes(jpeg);
  write_bytes(jpeg, whole.substr(0, whole.size() / 2));
  CHECK_THROWS_WITH(data::load_tiny_imagenet(root.string(), false),
                    Catch::StartsWith("load_tiny_imagenet: cannot decode") && Catch::Contains("val_2.JPEG") &&
                        Catch::Contains("corrupt JPEG"));
  write_bytes(jpeg, std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'x'));
  CHECK_THROWS_WITH(data::load_tiny_imagenet(root.string(), false),
                    Catch::Contains("val_2.JPEG") && Catch::Contains("not a JPEG"));
}

TEST_CASE("the Tiny-ImageNet cache is written atomically, reused, and rebuilt when corrupt or stale",
          "[data][tiny_imagenet][cache]") {
  TempDir dir;
  fs::path root = write_tree(dir.path);
  const fs::path cache = data::tiny_imagenet_cache_path(root.string(), true);
  CHECK(cache == root / "train.engram-cache");
  CHECK(!fs::exists(cache));
  std::vector<uint8_t> first = data::load_tiny_imagenet(root.string(), true).images.to_vector<uint8_t>();
  REQUIRE(fs::exists(cache));
  const std::string cache_bytes = read_bytes(cache);
  CHECK(cache_bytes.substr(0, 8) == "ENGRAMDS");
  CHECK(cache_bytes.size() == 64 + 5 * 4 + 5 * 3 * 64 * 64);
  for (const fs::directory_entry& entry : fs::directory_iterator(root))
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);  // no temporary left behind

  SECTION("reused: a source image made undecodable (same size) is not read again") {
    const fs::path image = root / "train/n03/images/n03_0.JPEG";
    write_bytes(image, std::string(fs::file_size(image), '\0'));
    CHECK(data::load_tiny_imagenet(root.string(), true).images.to_vector<uint8_t>() == first);
    fs::remove(cache);  // without the cache the broken image is an error
    CHECK_THROWS_WITH(data::load_tiny_imagenet(root.string(), true),
                      Catch::StartsWith("load_tiny_imagenet: cannot decode") && Catch::Contains("n03_0.JPEG"));
  }
  SECTION("a flipped payload byte fails the CRC and is rebuilt") {
    std::string corrupt = cache_bytes;
    corrupt[corrupt.size() - 1] ^= 0x5A;
    write_bytes(cache, corrupt);
    CHECK(data::load_tiny_imagenet(root.string(), true).images.to_vector<uint8_t>() == first);
    CHECK(read_bytes(cache) == cache_bytes);
  }
  SECTION("a truncated cache is rebuilt") {
    write_bytes(cache, cache_bytes.substr(0, 1000));
    CHECK(data::load_tiny_imagenet(root.string(), true).images.to_vector<uint8_t>() == first);
    CHECK(read_bytes(cache) == cache_bytes);
  }
  SECTION("a file that is not a cache is rebuilt") {
    write_bytes(cache, "hello");
    CHECK(data::load_tiny_imagenet(root.string(), true).size() == 5);
    CHECK(read_bytes(cache) == cache_bytes);
  }
  SECTION("a stale cache (an image was added) is rebuilt") {
    write_jpeg(root / "train/n02/images/n02_1.JPEG", 9);
    data::ImageDataset grown = data::load_tiny_imagenet(root.string(), true);
    CHECK(grown.labels.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 1, 1, 2, 2});
    check_decoded(grown, 5, root / "train/n02/images/n02_1.JPEG");
  }
}

TEST_CASE("image cache files round-trip and explain why they are rejected", "[data][cache]") {
  TempDir dir;
  data::ImageDataset ds;
  ds.images = Tensor::from_vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 1, 2, 2});
  ds.labels = Tensor::from_vector<int32_t>({1, 0}, {2});
  ds.num_classes = 2;
  const std::string path = (dir.path / "x.engram-cache").string();
  std::string reason;
  REQUIRE(data::write_image_cache(path, 1234, ds, reason));
  data::ImageDataset back;
  REQUIRE(data::read_image_cache(path, 1234, back, reason));
  CHECK(back.images.to_vector<uint8_t>() == ds.images.to_vector<uint8_t>());
  CHECK(back.images.shape() == ds.images.shape());
  CHECK(back.labels.to_vector<int32_t>() == ds.labels.to_vector<int32_t>());
  CHECK(back.num_classes == 2);
  CHECK(!data::read_image_cache(path, 999, back, reason));
  CHECK(reason == "was built from other source files");
  std::string bytes = read_bytes(path);
  bytes[8] = 7;  // version
  write_bytes(path, bytes);
  CHECK(!data::read_image_cache(path, 1234, back, reason));
  CHECK(reason == "has version 7, expected 1");
  CHECK(!data::read_image_cache((dir.path / "absent").string(), 1234, back, reason));
  CHECK(reason.empty());
  CHECK(!data::write_image_cache((dir.path / "no/such/folder/c").string(), 1, ds, reason));
  CHECK(reason.find("cannot create") == 0);
}

TEST_CASE("bad Tiny-ImageNet trees are IOErrors naming the file", "[data][tiny_imagenet][errors]") {
  TempDir dir;
  fs::path root = write_tree(dir.path);
  const std::string r = root.string();

  SECTION("missing wnids.txt") {
    fs::remove(root / "wnids.txt");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, true),
                      Catch::StartsWith("load_tiny_imagenet: missing file") && Catch::Contains("wnids.txt"));
  }
  SECTION("empty wnids.txt") {
    write_text(root / "wnids.txt", "\n\n");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, true), Catch::Contains("wnids.txt: expected one wnid per line"));
  }
  SECTION("duplicate wnid") {
    write_text(root / "wnids.txt", "n03\nn01\nn03\n");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, true), Catch::Contains("wnid n03 is listed twice (lines 1 and 3)"));
  }
  SECTION("missing class folder") {
    fs::remove_all(root / "train/n01");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, true),
                      Catch::StartsWith("load_tiny_imagenet: missing folder") &&
                          Catch::Contains("train/n01/images for wnid n01 (line 2 of wnids.txt)"));
  }
  SECTION("class folder without images") {
    fs::remove(root / "train/n02/images/n02_0.JPEG");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, true), Catch::Contains("n02/images: expected the class's JPEG"));
  }
  SECTION("wrong image size") {
    write_jpeg(root / "train/n02/images/n02_1.JPEG", 8, 48, 32);
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, true), Catch::StartsWith("load_tiny_imagenet:") &&
                                                             Catch::Contains("n02_1.JPEG") &&
                                                             Catch::Contains("expected a 64x64 image, got 48x32"));
    CHECK(!fs::exists(root / "train.engram-cache"));  // nothing cached from a failed build
  }
  SECTION("undecodable image") {
    write_text(root / "val/images/val_2.JPEG", "not a jpeg");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, false),
                      Catch::StartsWith("load_tiny_imagenet: cannot decode") && Catch::Contains("val_2.JPEG"));
  }
  SECTION("val annotation with an unknown wnid") {
    write_text(root / "val/val_annotations.txt", "val_0.JPEG\tn02\t0\t0\t1\t1\nval_1.JPEG\tn99\t0\t0\t1\t1\n");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, false),
                      Catch::Contains("val_annotations.txt: line 2: wnid n99 is not listed in wnids.txt"));
  }
  SECTION("val annotation without a wnid") {
    write_text(root / "val/val_annotations.txt", "val_0.JPEG\n");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, false), Catch::Contains("line 1: expected <file> <tab> <wnid>"));
  }
  SECTION("val image listed but missing") {
    write_text(root / "val/val_annotations.txt", "val_0.JPEG\tn02\nval_9.JPEG\tn01\n");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, false),
                      Catch::StartsWith("load_tiny_imagenet: missing image") && Catch::Contains("val_9.JPEG"));
  }
  SECTION("missing val_annotations.txt") {
    fs::remove(root / "val/val_annotations.txt");
    CHECK_THROWS_WITH(data::load_tiny_imagenet(r, false),
                      Catch::StartsWith("load_tiny_imagenet: missing file") && Catch::Contains("val_annotations.txt"));
  }
}
