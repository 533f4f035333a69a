#include "data/image_cache.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

namespace engram::data {

namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'E', 'N', 'G', 'R', 'A', 'M', 'D', 'S'};

struct CacheHeader {
  char magic[8];
  uint32_t version;
  uint32_t num_classes;
  uint64_t n, c, h, w;
  uint64_t fingerprint;
  uint32_t payload_crc;
  uint32_t reserved;
};
static_assert(sizeof(CacheHeader) == 64, "the cache header is 64 bytes on disk");

uint32_t crc_of(uint32_t crc, const void* bytes, size_t size) {
  const Bytef* p = static_cast<const Bytef*>(bytes);
  while (size > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, p, chunk));
    p += chunk;
    size -= chunk;
  }
  return crc;
}

uint32_t payload_crc(const ImageDataset& ds) {
  uint32_t crc = static_cast<uint32_t>(crc32(0, Z_NULL, 0));
  crc = crc_of(crc, ds.labels.raw_data(), ds.labels.nbytes());
  return crc_of(crc, ds.images.raw_data(), ds.images.nbytes());
}

}  // namespace

uint64_t fnv1a(const void* bytes, size_t size, uint64_t hash) {
  const unsigned char* p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ p[i]) * 0x100000001B3ull;
  return hash;
}

bool read_image_cache(const std::string& path, uint64_t fingerprint, ImageDataset& out, std::string& reason) {
  reason.clear();
  auto reject = [&reason](std::string why) {
    reason = std::move(why);
    return false;
  };
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  std::ifstream file(path, std::ios::binary);
  CacheHeader header{};
  const uint64_t file_size = fs::file_size(path, ec);
  if (!file.good() || ec) return reject("cannot be read");
  if (file_size < sizeof header || !file.read(reinterpret_cast<char*>(&header), sizeof header))
    return reject("is shorter than its 64-byte header");
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0) return reject("does not start with ENGRAMDS");
  if (header.version != kImageCacheVersion)
    return reject("has version " + std::to_string(header.version) + ", expected " + std::to_string(kImageCacheVersion));
  if (header.fingerprint != fingerprint) return reject("was built from other source files");
  // Bound each dimension first so that the size arithmetic cannot overflow.
  const uint64_t kLimit = uint64_t{1} << 31;
  if (header.n == 0 || header.n >= kLimit || header.c == 0 || header.c > 4 || header.h == 0 || header.h >= 65536 ||
      header.w == 0 || header.w >= 65536 || header.num_classes == 0)
    return reject("has an implausible header");
  const uint64_t expected = sizeof header + header.n * 4 + header.n * header.c * header.h * header.w;
  if (file_size != expected)
    return reject("holds " + std::to_string(file_size) + " bytes, its header promises " + std::to_string(expected));

  ImageDataset ds;
  const int64_t n = static_cast<int64_t>(header.n);
  ds.labels = Tensor::empty({n}, DType::i32);
  ds.images = Tensor::empty(
      {n, static_cast<int64_t>(header.c), static_cast<int64_t>(header.h), static_cast<int64_t>(header.w)}, DType::u8);
  ds.num_classes = header.num_classes;
  if (!file.read(static_cast<char*>(ds.labels.raw_data()), static_cast<std::streamsize>(ds.labels.nbytes())) ||
      !file.read(static_cast<char*>(ds.images.raw_data()), static_cast<std::streamsize>(ds.images.nbytes())))
    return reject("could not be read to the end");
  if (payload_crc(ds) != header.payload_crc) return reject("fails its CRC-32 check (corrupt)");
  const int32_t* labels = ds.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= static_cast<int64_t>(header.num_classes))
      return reject("holds label " + std::to_string(labels[i]) + " outside [0, " + std::to_string(header.num_classes) +
                    ")");
  out = ds;
  return true;
}

bool write_image_cache(const std::string& path, uint64_t fingerprint, const ImageDataset& dataset,
                       std::string& reason) {
  auto reject = [&reason](std::string why) {
    reason = std::move(why);
    return false;
  };
  CacheHeader header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.version = kImageCacheVersion;
  header.num_classes = static_cast<uint32_t>(dataset.num_classes);
  header.n = static_cast<uint64_t>(dataset.images.size(0));
  header.c = static_cast<uint64_t>(dataset.images.size(1));
  header.h = static_cast<uint64_t>(dataset.images.size(2));
  header.w = static_cast<uint64_t>(dataset.images.size(3));
  header.fingerprint = fingerprint;
  header.payload_crc = payload_crc(dataset);

  // A unique temporary name in the same folder, so that rename() is atomic
  // and two processes building the same cache do not write into one file.
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream file(temp, std::ios::binary | std::ios::trunc);
    if (!file.good()) return reject("cannot create " + temp);
    file.write(reinterpret_cast<const char*>(&header), sizeof header);
    file.write(static_cast<const char*>(dataset.labels.raw_data()),
               static_cast<std::streamsize>(dataset.labels.nbytes()));
    file.write(static_cast<const char*>(dataset.images.raw_data()),
               static_cast<std::streamsize>(dataset.images.nbytes()));
    file.flush();
    if (!file.good()) {
      file.close();
      std::remove(temp.c_str());
      return reject("writing " + temp + " failed (disk full?)");
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return reject("cannot rename " + temp + " to " + path);
  }
  return true;
}

}  // namespace engram::data
