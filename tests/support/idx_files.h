#pragma once
// Writing IDX files (data/idx.h) in tests: the bytes of one file, gzip or raw.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace engram::testing {

// The header (type code `type`, one big-endian size per dimension), then `data`.
inline std::vector<unsigned char> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<unsigned char>& data,
                                            int type = 0x08) {
  std::vector<unsigned char> b = {0, 0, static_cast<unsigned char>(type), static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

inline void write_gz(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

}  // namespace engram::testing
