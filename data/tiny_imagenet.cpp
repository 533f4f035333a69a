#include "data/tiny_imagenet.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "data/image_cache.h"
#include "data/jpeg_decode.h"

namespace engram::data {

namespace {

namespace fs = std::filesystem;

constexpr const char* kOp = "load_tiny_imagenet";
constexpr int kSide = 64;
constexpr int kChannels = 3;

struct SourceImage {
  std::string relative_path;  // from the dataset root
  int32_t label;
};

std::string trim(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return s.substr(begin, end - begin);
}

// `dir` when it holds wnids.txt, else the zip's tiny-imagenet-200 folder inside it.
fs::path resolve_root(const std::string& dir) {
  if (fs::exists(fs::path(dir) / "wnids.txt")) return dir;
  fs::path nested = fs::path(dir) / "tiny-imagenet-200";
  if (fs::exists(nested / "wnids.txt")) return nested;
  throw IOError(std::string(kOp) + ": missing file " + (fs::path(dir) / "wnids.txt").string() +
                " (expected the tiny-imagenet-200 folder: wnids.txt, train/, val/)");
}

std::vector<std::string> read_wnids(const fs::path& path) {
  std::ifstream file(path);
  ENGRAM_CHECK(file.good(), IOError, kOp, "cannot open " + path.string());
  std::vector<std::string> wnids;
  std::map<std::string, int> line_of;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    std::string wnid = trim(line);
    if (wnid.empty()) continue;
    auto [it, inserted] = line_of.emplace(wnid, number);
    ENGRAM_CHECK(inserted, IOError, kOp,
                 path.string() + ": wnid " + wnid + " is listed twice (lines " + std::to_string(it->second) + " and " +
                     std::to_string(number) + ")");
    wnids.push_back(wnid);
  }
  ENGRAM_CHECK(!wnids.empty(), IOError, kOp, path.string() + ": expected one wnid per line, the file lists none");
  return wnids;
}

bool is_jpeg_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpeg" || ext == ".jpg";
}

std::vector<SourceImage> list_train(const fs::path& root, const std::vector<std::string>& wnids) {
  std::vector<SourceImage> images;
  for (size_t label = 0; label < wnids.size(); ++label) {
    fs::path folder = root / "train" / wnids[label] / "images";
    ENGRAM_CHECK(fs::is_directory(folder), IOError, kOp,
                 "missing folder " + folder.string() + " for wnid " + wnids[label] + " (line " +
                     std::to_string(label + 1) + " of wnids.txt)");
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder))
      if (entry.is_regular_file() && is_jpeg_file(entry.path())) names.push_back(entry.path().filename().string());
    ENGRAM_CHECK(!names.empty(), IOError, kOp, folder.string() + ": expected the class's JPEG images, found none");
    std::sort(names.begin(), names.end());
    for (const std::string& name : names)
      images.push_back({"train/" + wnids[label] + "/images/" + name, static_cast<int32_t>(label)});
  }
  return images;
}

std::vector<SourceImage> list_val(const fs::path& root, const std::vector<std::string>& wnids) {
  std::map<std::string, int32_t> label_of;
  for (size_t i = 0; i < wnids.size(); ++i) label_of[wnids[i]] = static_cast<int32_t>(i);
  fs::path annotations = root / "val" / "val_annotations.txt";
  std::ifstream file(annotations);
  ENGRAM_CHECK(file.good(), IOError, kOp, "missing file " + annotations.string());
  std::vector<SourceImage> images;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    if (trim(line).empty()) continue;
    std::istringstream fields(line);
    std::string name, wnid;
    fields >> name >> wnid;
    ENGRAM_CHECK(!wnid.empty(), IOError, kOp,
                 annotations.string() + ": line " + std::to_string(number) +
                     ": expected <file> <tab> <wnid> <tab> <bbox>, got \"" + line + "\"");
    auto it = label_of.find(wnid);
    ENGRAM_CHECK(
        it != label_of.end(), IOError, kOp,
        annotations.string() + ": line " + std::to_string(number) + ": wnid " + wnid + " is not listed in wnids.txt");
    images.push_back({"val/images/" + name, it->second});
  }
  ENGRAM_CHECK(!images.empty(), IOError, kOp, annotations.string() + ": expected one line per image, found none");
  return images;
}

// Identifies the source: wnids, each image's path, label and file size.
uint64_t source_fingerprint(const fs::path& root, const std::vector<std::string>& wnids,
                            const std::vector<SourceImage>& images) {
  uint64_t hash = fnv1a("tiny-imagenet", 13);
  for (const std::string& wnid : wnids) hash = fnv1a(wnid.c_str(), wnid.size() + 1, hash);
  for (const SourceImage& image : images) {
    std::error_code ec;
    uint64_t bytes = fs::file_size(root / image.relative_path, ec);
    ENGRAM_CHECK(!ec, IOError, kOp, "missing image " + (root / image.relative_path).string());
    hash = fnv1a(image.relative_path.c_str(), image.relative_path.size() + 1, hash);
    hash = fnv1a(&image.label, sizeof image.label, hash);
    hash = fnv1a(&bytes, sizeof bytes, hash);
  }
  return hash;
}

ImageDataset decode_all(const fs::path& root, const std::vector<SourceImage>& sources, int64_t num_classes) {
  const int64_t n = static_cast<int64_t>(sources.size());
  ImageDataset ds;
  ds.images = Tensor::empty({n, kChannels, kSide, kSide}, DType::u8);
  ds.labels = Tensor::empty({n}, DType::i32);
  ds.num_classes = num_classes;
  uint8_t* images = ds.images.data<uint8_t>();
  int32_t* labels = ds.labels.data<int32_t>();
  std::atomic<bool> failed{false};
  std::string first_error;
  // Errors cannot leave an OpenMP loop: the first is kept and thrown after it.
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    labels[i] = sources[i].label;
    const std::string path = (root / sources[i].relative_path).string();
    std::string error = decode_jpeg(path, kSide, images + i * kChannels * kSide * kSide);
    if (!error.empty()) {
#pragma omp critical(tiny_imagenet_error)
      if (!failed.exchange(true)) first_error = error;
    }
  }
  ENGRAM_CHECK(!failed.load(), IOError, kOp, first_error);
  return ds;
}

}  // namespace

std::string tiny_imagenet_cache_path(const std::string& dir, bool train) {
  return (resolve_root(dir) / (train ? "train.engram-cache" : "val.engram-cache")).string();
}

ImageDataset load_tiny_imagenet(const std::string& dir, bool train) {
  const fs::path root = resolve_root(dir);
  const std::vector<std::string> wnids = read_wnids(root / "wnids.txt");
  const std::vector<SourceImage> sources = train ? list_train(root, wnids) : list_val(root, wnids);
  const uint64_t fingerprint = source_fingerprint(root, wnids, sources);
  const std::string cache = tiny_imagenet_cache_path(dir, train);
  const int64_t num_classes = static_cast<int64_t>(wnids.size());

  ImageDataset ds;
  std::string reason;
  bool cached = read_image_cache(cache, fingerprint, ds, reason);
  // The fingerprint covers names and labels; the shape is checked for safety.
  if (cached && (ds.size() != static_cast<int64_t>(sources.size()) || ds.num_classes != num_classes ||
                 ds.images.shape() != Shape{ds.size(), kChannels, kSide, kSide})) {
    cached = false;
    reason = "does not match the source folder";
  }
  if (!cached) {
    if (!reason.empty()) std::fprintf(stderr, "%s: cache %s %s; rebuilding it\n", kOp, cache.c_str(), reason.c_str());
    ds = decode_all(root, sources, num_classes);
    if (!write_image_cache(cache, fingerprint, ds, reason))
      std::fprintf(stderr, "%s: cannot write the cache (%s); continuing without it\n", kOp, reason.c_str());
  }
  ds.name = "tiny-imagenet";
  return ds;
}

}  // namespace engram::data
