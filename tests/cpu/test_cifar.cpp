#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "data/cifar.h"
#include "data/dataset.h"

using namespace engram;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engram_cifar_" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// Image bytes of record r of a file: distinct per record, channel and pixel.
uint8_t pixel(int file, int record, int offset) { return static_cast<uint8_t>(file * 31 + record * 7 + offset * 13); }

// Writes records in the exact CIFAR binary layout: label bytes, then 3072 CHW bytes.
void write_records(const fs::path& path, int file, const std::vector<std::vector<uint8_t>>& label_bytes) {
  std::ofstream out(path, std::ios::binary);
  for (size_t r = 0; r < label_bytes.size(); ++r) {
    out.write(reinterpret_cast<const char*>(label_bytes[r].data()),
              static_cast<std::streamsize>(label_bytes[r].size()));
    for (int i = 0; i < 3072; ++i) out.put(static_cast<char>(pixel(file, static_cast<int>(r), i)));
  }
}

// CIFAR-10: five train batches of 1 to 3 records and a test batch of 2.
void write_cifar10(const fs::path& dir) {
  fs::create_directories(dir);
  for (int b = 1; b <= 5; ++b) {
    std::vector<std::vector<uint8_t>> labels;
    for (int r = 0; r < 1 + b % 3; ++r) labels.push_back({static_cast<uint8_t>((b * 3 + r) % 10)});
    write_records(dir / ("data_batch_" + std::to_string(b) + ".bin"), b, labels);
  }
  write_records(dir / "test_batch.bin", 0, {{9}, {0}});
}

void write_cifar100(const fs::path& dir) {
  fs::create_directories(dir);
  write_records(dir / "train.bin", 1, {{19, 99}, {0, 0}, {7, 42}});
  write_records(dir / "test.bin", 2, {{3, 55}});
}

void append_bytes(const fs::path& path, int count) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  for (int i = 0; i < count; ++i) out.put('\x01');
}

}  // namespace

TEST_CASE("CIFAR-10 binary batches load in file order with their labels", "[data][cifar]") {
  TempDir dir;
  write_cifar10(dir.path);
  data::ImageDataset train = data::load_cifar10(dir.path.string(), /*train=*/true);
  // Batches hold 2, 3, 1, 2, 3 records.
  CHECK(train.size() == 11);
  CHECK(train.images.shape() == Shape{11, 3, 32, 32});
  CHECK(train.num_classes == 10);
  CHECK(train.name == "cifar10");
  CHECK(train.labels.dtype() == DType::i32);
  std::vector<int32_t> expected_labels;
  for (int b = 1; b <= 5; ++b)
    for (int r = 0; r < 1 + b % 3; ++r) expected_labels.push_back((b * 3 + r) % 10);
  CHECK(train.labels.to_vector<int32_t>() == expected_labels);
  // Record 1 of data_batch_2 is sample 3: channel 1 (green), row 4, column 5 is byte 1024 + 4 * 32 + 5.
  CHECK(train.images.at<uint8_t>({3, 1, 4, 5}) == pixel(2, 1, 1024 + 4 * 32 + 5));
  CHECK(train.images.at<uint8_t>({10, 2, 31, 31}) == pixel(5, 2, 3071));
  CHECK(train.images.at<uint8_t>({0, 0, 0, 0}) == pixel(1, 0, 0));

  data::ImageDataset test = data::load_cifar10(dir.path.string(), /*train=*/false);
  CHECK(test.labels.to_vector<int32_t>() == std::vector<int32_t>{9, 0});
  CHECK(test.images.at<uint8_t>({1, 2, 0, 7}) == pixel(0, 1, 2048 + 7));
}

TEST_CASE("CIFAR-100 uses the fine label", "[data][cifar]") {
  TempDir dir;
  write_cifar100(dir.path);
  data::ImageDataset train = data::load_cifar100(dir.path.string(), true);
  CHECK(train.num_classes == 100);
  CHECK(train.name == "cifar100");
  CHECK(train.labels.to_vector<int32_t>() == std::vector<int32_t>{99, 0, 42});
  CHECK(train.images.shape() == Shape{3, 3, 32, 32});
  CHECK(train.images.at<uint8_t>({2, 0, 0, 0}) == pixel(1, 2, 0));
  CHECK(train.images.at<uint8_t>({2, 2, 31, 30}) == pixel(1, 2, 3070));
  CHECK(data::load_cifar100(dir.path.string(), false).labels.to_vector<int32_t>() == std::vector<int32_t>{55});
}

TEST_CASE("CIFAR folders are found as the tarballs unpack them, and through load_dataset", "[data][cifar]") {
  TempDir dir;
  write_cifar10(dir.path / "cifar-10-batches-bin");
  write_cifar100(dir.path / "cifar-100-binary");
  CHECK(data::load_cifar10(dir.path.string(), true).size() == 11);
  CHECK(data::load_dataset("cifar10", dir.path.string(), false).size() == 2);
  CHECK(data::load_dataset("cifar100", (dir.path / "cifar-100-binary").string(), true).size() == 3);
}

TEST_CASE("bad CIFAR files are IOErrors naming the file and what was expected", "[data][cifar][errors]") {
  TempDir dir;
  write_cifar10(dir.path);
  write_cifar100(dir.path);
  const std::string d = dir.path.string();

  SECTION("missing folder") {
    CHECK_THROWS_WITH(data::load_cifar10((dir.path / "nope").string(), true),
                      Catch::StartsWith("load_cifar10: missing file") && Catch::Contains("data_batch_1.bin") &&
                          Catch::Contains("cifar-10-batches-bin"));
  }
  SECTION("missing batch") {
    fs::remove(dir.path / "data_batch_3.bin");
    CHECK_THROWS_WITH(data::load_cifar10(d, true),
                      Catch::StartsWith("load_cifar10: cannot open") && Catch::Contains("data_batch_3.bin"));
  }
  SECTION("truncated record") {
    fs::resize_file(dir.path / "data_batch_2.bin", 3 * 3073 - 100);
    CHECK_THROWS_WITH(data::load_cifar10(d, true),
                      Catch::StartsWith("load_cifar10:") && Catch::Contains("data_batch_2.bin") &&
                          Catch::Contains("3073-byte records") && Catch::Contains("got 9119 bytes"));
  }
  SECTION("CIFAR-100 records read as CIFAR-10 have the wrong size") {
    fs::copy_file(dir.path / "train.bin", dir.path / "test_batch.bin", fs::copy_options::overwrite_existing);
    CHECK_THROWS_WITH(data::load_cifar10(d, false),
                      Catch::Contains("test_batch.bin") && Catch::Contains("3073-byte records"));
  }
  SECTION("extra bytes") {
    append_bytes(dir.path / "test.bin", 1);
    CHECK_THROWS_WITH(data::load_cifar100(d, false), Catch::StartsWith("load_cifar100:") &&
                                                         Catch::Contains("test.bin") &&
                                                         Catch::Contains("3074-byte records"));
  }
  SECTION("empty file") {
    fs::resize_file(dir.path / "test_batch.bin", 0);
    CHECK_THROWS_WITH(data::load_cifar10(d, false),
                      Catch::Contains("test_batch.bin") && Catch::Contains("got 0 bytes"));
  }
  SECTION("CIFAR-10 label out of range") {
    write_records(dir.path / "data_batch_4.bin", 4, {{3}, {10}});
    CHECK_THROWS_WITH(data::load_cifar10(d, true),
                      Catch::Contains("data_batch_4.bin: record 1 has label 10") && Catch::Contains("[0, 10)"));
  }
  SECTION("CIFAR-100 fine label out of range") {
    write_records(dir.path / "train.bin", 1, {{0, 100}});
    CHECK_THROWS_WITH(data::load_cifar100(d, true),
                      Catch::Contains("train.bin: record 0 has label 100") && Catch::Contains("[0, 100)"));
  }
  SECTION("CIFAR-100 coarse label out of range") {
    write_records(dir.path / "test.bin", 1, {{1, 2}, {20, 5}});
    CHECK_THROWS_WITH(data::load_cifar100(d, false),
                      Catch::Contains("test.bin: record 1 has coarse label 20") && Catch::Contains("[0, 20)"));
  }
  SECTION("missing CIFAR-100 file") {
    fs::remove(dir.path / "test.bin");
    CHECK_THROWS_AS(data::load_cifar100(d, false), IOError);
  }
}
