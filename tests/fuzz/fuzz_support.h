#pragma once
// What the fuzz targets share. Each target (fuzz_<reader>.cpp) defines
// LLVMFuzzerTestOneInput: it writes the input where the reader expects a
// file, runs the reader and accepts two outcomes only: the file loads, or the
// reader throws an engram::Error (a message naming the file). Anything else
// (a crash, a sanitizer report, another exception, a hang, an allocation past
// libFuzzer's limit) is a bug that the fuzzer reports and stops on.
//
// Built with ENGRAM_FUZZ (clang), the targets are libFuzzer programs
// (scripts/fuzz.sh). Otherwise they are linked with replay_main.cpp, and
// the test suite replays the seed corpus and the regression inputs.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace engram::fuzz {

namespace fs = std::filesystem;

// A folder of this process's own under the system's temporary directory,
// removed when the process exits.
struct OwnFolder {
  explicit OwnFolder(const std::string& name)
      : path(fs::temp_directory_path() / ("engram_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~OwnFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  const fs::path path;
};

// An empty folder, emptied again for every input.
inline fs::path fresh_scratch() {
  static const OwnFolder scratch("fuzz");
  fs::remove_all(scratch.path);
  fs::create_directories(scratch.path);
  return scratch.path;
}

inline void write_file(const fs::path& path, const uint8_t* data, size_t size) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// How many inputs loaded and how many were rejected with an engram::Error
// (replay_main.cpp checks them against what the corpus should do).
struct Outcomes {
  int64_t loaded = 0, rejected = 0;
};
inline Outcomes& outcomes() {
  static Outcomes counts;
  return counts;
}

// Runs `read`; an engram::Error is an accepted outcome, anything else propagates.
template <typename Read>
void load_or_error(Read&& read) {
  try {
    read();
    ++outcomes().loaded;
  } catch (const Error&) {
    ++outcomes().rejected;
  }
}

}  // namespace engram::fuzz
