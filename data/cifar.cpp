#include "data/cifar.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace engram::data {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kImageBytes = 3 * 32 * 32;

struct CifarFormat {
  const char* op;             // names the loader in errors
  const char* subdir;         // the folder the official tarball unpacks to
  int64_t label_bytes;        // bytes before the image in each record
  int64_t coarse_classes;     // CIFAR-100's first byte; 0 when there is none
  int64_t num_classes;        // the label used is the last label byte
  std::string record_layout;  // for error messages
  int64_t record_bytes() const { return label_bytes + kImageBytes; }
};

const CifarFormat kCifar10{"load_cifar10", "cifar-10-batches-bin", 1, 0, 10, "<1 label byte><3072 image bytes>"};
const CifarFormat kCifar100{
    "load_cifar100", "cifar-100-binary", 2, 20, 100, "<1 coarse label byte><1 fine label byte><3072 image bytes>"};

// `dir` itself when it holds the first file, else the tarball's folder inside it.
std::string resolve_dir(const CifarFormat& format, const std::string& dir, const std::string& first_file) {
  if (fs::exists(fs::path(dir) / first_file)) return dir;
  fs::path nested = fs::path(dir) / format.subdir;
  if (fs::exists(nested / first_file)) return nested.string();
  throw IOError(std::string(format.op) + ": missing file " + (fs::path(dir) / first_file).string() +
                " (expected the binary version of the dataset in " + dir + " or in " + nested.string() + ")");
}

// Appends the records of one file to `images` (CHW bytes) and `labels`.
void read_records(const CifarFormat& format, const std::string& path, std::vector<uint8_t>& images,
                  std::vector<int32_t>& labels) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  ENGRAM_CHECK(file.good(), IOError, format.op, "cannot open " + path + " (missing or unreadable)");
  const int64_t size = static_cast<int64_t>(file.tellg());
  const int64_t record = format.record_bytes();
  ENGRAM_CHECK(size > 0 && size % record == 0, IOError, format.op,
               path + ": expected a whole number of " + std::to_string(record) + "-byte records " +
                   format.record_layout + ", got " + std::to_string(size) + " bytes (truncated or not this format)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  file.seekg(0);
  file.read(reinterpret_cast<char*>(bytes.data()), size);
  ENGRAM_CHECK(file.gcount() == size, IOError, format.op,
               path + ": read " + std::to_string(file.gcount()) + " of " + std::to_string(size) + " bytes");

  const int64_t count = size / record;
  const size_t first_image = images.size();
  images.resize(first_image + static_cast<size_t>(count * kImageBytes));
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* rec = bytes.data() + i * record;
    if (format.coarse_classes > 0)
      ENGRAM_CHECK(rec[0] < format.coarse_classes, IOError, format.op,
                   path + ": record " + std::to_string(i) + " has coarse label " + std::to_string(rec[0]) +
                       ", expected [0, " + std::to_string(format.coarse_classes) + ")");
    const uint8_t label = rec[format.label_bytes - 1];
    ENGRAM_CHECK(label < format.num_classes, IOError, format.op,
                 path + ": record " + std::to_string(i) + " has label " + std::to_string(label) + ", expected [0, " +
                     std::to_string(format.num_classes) + ")");
    labels.push_back(label);
    std::memcpy(images.data() + first_image + i * kImageBytes, rec + format.label_bytes, kImageBytes);
  }
}

ImageDataset load_cifar(const CifarFormat& format, const std::string& name, const std::string& dir,
                        const std::vector<std::string>& files) {
  std::string folder = resolve_dir(format, dir, files.front());
  std::vector<uint8_t> images;
  std::vector<int32_t> labels;
  for (const std::string& file : files) read_records(format, (fs::path(folder) / file).string(), images, labels);
  const int64_t n = static_cast<int64_t>(labels.size());
  ImageDataset ds;
  ds.name = name;
  ds.images = Tensor::from_vector(images, {n, 3, 32, 32});
  ds.labels = Tensor::from_vector(labels, {n});
  ds.num_classes = format.num_classes;
  return ds;
}

}  // namespace

ImageDataset load_cifar10(const std::string& dir, bool train) {
  std::vector<std::string> files;
  if (train)
    for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
  else
    files.push_back("test_batch.bin");
  return load_cifar(kCifar10, "cifar10", dir, files);
}

ImageDataset load_cifar100(const std::string& dir, bool train) {
  return load_cifar(kCifar100, "cifar100", dir, {train ? "train.bin" : "test.bin"});
}

}  // namespace engram::data
