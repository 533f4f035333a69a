#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/idx.h"
#include "tests/support/idx_files.h"

using namespace engram;
using testing::idx_bytes;
using testing::write_gz;
namespace fs = std::filesystem;

namespace {

void write_raw(const fs::path& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engram_idx_" + std::to_string(std::rand()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// A 3-image 2x2 set in the exact Fashion-MNIST layout.
void write_tiny_set(const fs::path& dir, bool gz, std::vector<unsigned char> labels = {3, 0, 9}) {
  auto images = idx_bytes({3, 2, 2}, {0, 1, 2, 3, 10, 11, 12, 13, 250, 251, 252, 253});
  auto label_bytes = idx_bytes({static_cast<uint32_t>(labels.size())}, labels);
  if (gz) {
    write_gz(dir / "train-images-idx3-ubyte.gz", images);
    write_gz(dir / "train-labels-idx1-ubyte.gz", label_bytes);
  } else {
    write_raw(dir / "train-images-idx3-ubyte", images);
    write_raw(dir / "train-labels-idx1-ubyte", label_bytes);
  }
}

}  // namespace

TEST_CASE("IDX sets load from gzip and raw files", "[data][idx]") {
  for (bool gz : {true, false}) {
    TempDir dir;
    write_tiny_set(dir.path, gz);
    data::ImageDataset ds = data::load_mnist_format(dir.path.string(), /*train=*/true);
    CHECK(ds.size() == 3);
    CHECK(ds.num_classes == 10);
    CHECK(ds.images.shape() == Shape{3, 1, 2, 2});
    CHECK(ds.images.dtype() == DType::u8);
    CHECK(ds.images.at<uint8_t>({2, 0, 1, 1}) == 253);
    CHECK(ds.labels.to_vector<int32_t>() == std::vector<int32_t>{3, 0, 9});
  }
}

TEST_CASE("bad IDX input gives errors naming the file", "[data][idx][errors]") {
  TempDir dir;
  SECTION("missing files") {
    CHECK_THROWS_WITH(data::load_mnist_format(dir.path.string(), true),
                      Catch::Contains("missing file") && Catch::Contains("train-images-idx3-ubyte"));
    CHECK_THROWS_AS(data::read_idx((dir.path / "nope").string()), IOError);
  }
  SECTION("truncated data") {
    auto bytes = idx_bytes({3, 2, 2}, {1, 2, 3});
    write_raw(dir.path / "t.idx", bytes);
    CHECK_THROWS_WITH(data::read_idx((dir.path / "t.idx").string()),
                      Catch::Contains("truncated") && Catch::Contains("12 bytes") && Catch::Contains("t.idx"));
    // A header that promises 4 GB of a 3-byte file: read, not allocated.
    write_raw(dir.path / "big.idx", idx_bytes({65536, 65536}, {1, 2, 3}));
    CHECK_THROWS_WITH(data::read_idx((dir.path / "big.idx").string()),
                      Catch::Contains("truncated") && Catch::Contains("the file holds 3"));
    write_raw(dir.path / "empty.idx", idx_bytes({3, 0}, {}));
    CHECK_THROWS_WITH(data::read_idx((dir.path / "empty.idx").string()), Catch::Contains("dimension 1 of 2 is 0"));
    write_raw(dir.path / "huge.idx", idx_bytes({4000000000u, 4000000000u, 4000000000u}, {}));
    CHECK_THROWS_WITH(data::read_idx((dir.path / "huge.idx").string()), Catch::Contains("more than the 1 TiB"));
  }
  SECTION("truncated header and bad magic") {
    write_raw(dir.path / "short", {0, 0});
    CHECK_THROWS_WITH(data::read_idx((dir.path / "short").string()), Catch::Contains("magic"));
    write_raw(dir.path / "magic", {1, 2, 8, 1, 0, 0, 0, 1, 5});
    CHECK_THROWS_WITH(data::read_idx((dir.path / "magic").string()), Catch::Contains("not an IDX file"));
    write_raw(dir.path / "float", idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
    CHECK_THROWS_WITH(data::read_idx((dir.path / "float").string()), Catch::Contains("type code"));
  }
  SECTION("label out of range") {
    write_tiny_set(dir.path, true, {3, 10, 1});
    CHECK_THROWS_WITH(data::load_mnist_format(dir.path.string(), true),
                      Catch::Contains("label 10 at index 1") && Catch::Contains("[0, 10)"));
  }
  SECTION("image and label counts differ") {
    write_tiny_set(dir.path, false, {1, 2});
    CHECK_THROWS_WITH(data::load_mnist_format(dir.path.string(), true), Catch::Contains("2 labels"));
  }
  SECTION("corrupt gzip stream") {
    std::vector<unsigned char> bad = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_raw(dir.path / "bad.gz", bad);
    CHECK_THROWS_AS(data::read_idx((dir.path / "bad.gz").string()), IOError);
  }
}

TEST_CASE("the real Fashion-MNIST test set loads", "[data][idx][real]") {
  std::string dir = data::default_fashion_mnist_dir();
  INFO("Fashion-MNIST is expected at " << dir << " (scripts/setup.sh installs it)");
  data::ImageDataset test = data::load_mnist_format(dir, false);
  CHECK(test.size() == 10000);
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  std::vector<int32_t> labels = test.labels.to_vector<int32_t>();
  std::vector<int> counts(10, 0);
  for (int32_t l : labels) counts[l]++;
  for (int c : counts) CHECK(c == 1000);  // the test set is balanced
}
