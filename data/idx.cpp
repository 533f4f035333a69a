#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

namespace engram::data {

namespace {

constexpr uint64_t kMaxBytes = uint64_t{1} << 40;
constexpr uint64_t kFirstChunkBytes = uint64_t{1} << 20;

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

// gzread reads gzip files and passes plain files through unchanged.
struct GzFile {
  explicit GzFile(const std::string& path) : handle(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (handle) gzclose(handle);
  }
  gzFile handle;
};

size_t read_up_to(GzFile& f, void* buffer, size_t bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes - done, 1u << 30));
    int got = gzread(f.handle, static_cast<char*>(buffer) + done, chunk);
    if (got < 0) {
      int code = 0;
      throw IOError("read_idx: " + path + ": corrupt compressed data (" + gzerror(f.handle, &code) + ")");
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

uint32_t big_endian(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// "dir/stem" with or without ".gz", whichever exists.
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {dir + "/" + stem + ".gz", dir + "/" + stem})
    if (file_exists(candidate)) return candidate;
  throw IOError("load_mnist_format: missing file " + dir + "/" + stem + "[.gz] (expected the IDX files of " +
                "MNIST / Fashion-MNIST; Debian's dataset-fashion-mnist installs them in " +
                "/usr/share/datasets/fashion-mnist)");
}

}  // namespace

Tensor read_idx(const std::string& path) {
  ENGRAM_CHECK(file_exists(path), IOError, "read_idx", "cannot open " + path + " (missing or unreadable)");
  GzFile file(path);
  ENGRAM_CHECK(file.handle != nullptr, IOError, "read_idx", "cannot open " + path);
  unsigned char magic[4];
  ENGRAM_CHECK(read_up_to(file, magic, 4, path) == 4, IOError, "read_idx",
               path + ": file ends inside the 4-byte IDX magic number");
  ENGRAM_CHECK(magic[0] == 0 && magic[1] == 0, IOError, "read_idx",
               path + ": not an IDX file (expected magic 0x0000TTRR, first bytes are not zero)");
  ENGRAM_CHECK(magic[2] == 0x08, IOError, "read_idx",
               path + ": expected unsigned-byte data (type code 0x08), got type code " + std::to_string(magic[2]));
  int rank = magic[3];
  ENGRAM_CHECK(rank >= 1 && rank <= 4, IOError, "read_idx",
               path + ": expected 1 to 4 dimensions, got " + std::to_string(rank));
  std::vector<unsigned char> dims_raw(4 * rank);
  ENGRAM_CHECK(read_up_to(file, dims_raw.data(), dims_raw.size(), path) == dims_raw.size(), IOError, "read_idx",
               path + ": file ends inside the header");
  Shape shape;
  uint64_t expected = 1;
  for (int d = 0; d < rank; ++d) {
    const uint32_t size = big_endian(&dims_raw[4 * d]);
    ENGRAM_CHECK(size > 0, IOError, "read_idx",
                 path + ": dimension " + std::to_string(d) + " of " + std::to_string(rank) +
                     " is 0 (expected a file that holds data)");
    shape.push_back(size);
    // Each factor is below 2^32, so the product is checked before it can overflow.
    expected = expected <= kMaxBytes / size ? expected * size : kMaxBytes + 1;
  }
  ENGRAM_CHECK(expected <= kMaxBytes, IOError, "read_idx",
               path + ": the header promises " + shape_str(shape) + ", more than the 1 TiB engram reads");
  // The data is read in growing chunks before the tensor is allocated, so
  // that a header promising more than the file holds costs about what it holds.
  std::vector<unsigned char> bytes;
  while (bytes.size() < expected) {
    const size_t before = bytes.size();
    bytes.resize(before + std::min<uint64_t>(expected - before, std::max<uint64_t>(before, kFirstChunkBytes)));
    const size_t got = read_up_to(file, bytes.data() + before, bytes.size() - before, path);
    bytes.resize(before + got);
    if (got == 0) break;
  }
  ENGRAM_CHECK(bytes.size() == expected, IOError, "read_idx",
               path + ": truncated: the header promises " + std::to_string(expected) + " bytes of data " +
                   shape_str(shape) + ", the file holds " + std::to_string(bytes.size()));
  Tensor out = Tensor::empty(shape, DType::u8);
  std::memcpy(out.raw_data(), bytes.data(), bytes.size());
  return out;
}

ImageDataset load_mnist_format(const std::string& dir, bool train, const std::string& name) {
  std::string prefix = train ? "train" : "t10k";
  std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  Tensor images = read_idx(images_path);
  Tensor labels = read_idx(labels_path);
  ENGRAM_CHECK(images.dim() == 3, IOError, "load_mnist_format",
               images_path + ": expected 3 dimensions [N, H, W], got " + shape_str(images.shape()));
  ENGRAM_CHECK(labels.dim() == 1, IOError, "load_mnist_format",
               labels_path + ": expected 1 dimension [N], got " + shape_str(labels.shape()));
  ENGRAM_CHECK(images.size(0) == labels.size(0), IOError, "load_mnist_format",
               images_path + " holds " + std::to_string(images.size(0)) + " images but " + labels_path +
                   " holds " + std::to_string(labels.size(0)) + " labels");
  const uint8_t* raw = labels.data<uint8_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    ENGRAM_CHECK(raw[i] < 10, IOError, "load_mnist_format",
                 labels_path + ": label " + std::to_string(raw[i]) + " at index " + std::to_string(i) +
                     " is out of range [0, 10)");
  ImageDataset ds;
  ds.name = name;
  ds.images = images.reshape({images.size(0), 1, images.size(1), images.size(2)});
  ds.labels = labels.to(DType::i32);
  ds.num_classes = 10;
  return ds;
}

std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("ENGRAM_DATA_DIR");
  if (env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

}  // namespace engram::data
