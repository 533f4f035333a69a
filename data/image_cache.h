#pragma once
// A decoded image dataset stored as one uint8 file next to its source, so
// that formats which are slow to decode (JPEG folders) are decoded once.
//
// Layout (little-endian, 64-byte header):
//   char[8] "ENGRAMDS" | u32 version | u32 num_classes | u64 N, C, H, W |
//   u64 source fingerprint | u32 CRC-32 of the payload | u32 0
//   then the labels (i32 [N]) and the images (u8 [N, C, H, W]).
// The fingerprint identifies the source files (names, sizes, labels): a cache
// built from other files is stale and is rebuilt.
#include <cstdint>
#include <string>

#include "data/idx.h"

namespace engram::data {

constexpr uint32_t kImageCacheVersion = 1;

// Reads the cache at `path` into `out` when it exists, is intact and was built
// from the source identified by `fingerprint`. Otherwise returns false and
// says why in `reason` (empty when the file does not exist).
bool read_image_cache(const std::string& path, uint64_t fingerprint, ImageDataset& out, std::string& reason);

// Writes the cache atomically (temporary file, then rename). Returns false and
// says why in `reason` when the folder is not writable or the disk is full;
// nothing is left behind then.
bool write_image_cache(const std::string& path, uint64_t fingerprint, const ImageDataset& dataset, std::string& reason);

// FNV-1a over bytes, for fingerprints.
uint64_t fnv1a(const void* bytes, size_t size, uint64_t hash = 0xCBF29CE484222325ull);

}  // namespace engram::data
