// A fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput on files, so
// that the normal test suite replays the seed corpus and the inputs that
// once crashed a reader.
//   fuzz_<reader> --load FILE_OR_FOLDER...     every input must load (the seed corpus)
//   fuzz_<reader> --reject FILE_OR_FOLDER...   every input must be rejected with an engram::Error,
//                                              in 512 MiB of address space beyond what is mapped at
//                                              the start (not under ASan, whose shadow needs terabytes),
//                                              so an input that once made a reader allocate what the
//                                              file cannot back fails again
// A seed that no longer loads means the format changed: regenerate the
// corpus with make_fuzz_seeds (tests/fuzz/CMakeLists.txt).
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace fs = std::filesystem;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// The process's mapped bytes (VmSize), from /proc/self/status.
size_t mapped_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;  // in kB
  return 0;
}

void limit_address_space(size_t extra_bytes) {
  const size_t mapped = mapped_bytes();
  if (mapped == 0) return;
  const rlimit limit{mapped + extra_bytes, mapped + extra_bytes};
  setrlimit(RLIMIT_AS, &limit);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::strcmp(argv[1], "--load") != 0 && std::strcmp(argv[1], "--reject") != 0)) {
    std::fprintf(stderr, "usage: %s --load|--reject FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  const bool expect_load = std::strcmp(argv[1], "--load") == 0;
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  if (!expect_load && !kAddressSanitizer) limit_address_space(size_t{512} << 20);
  std::vector<fs::path> inputs;
  for (int i = 2; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const fs::directory_entry& entry : fs::directory_iterator(argv[i]))
        if (entry.is_regular_file()) inputs.push_back(entry.path());
    } else {
      inputs.push_back(argv[i]);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "%s: no inputs found\n", argv[0]);
    return 1;
  }
  int wrong = 0;
  for (const fs::path& input : inputs) {
    std::ifstream file(input, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const engram::fuzz::Outcomes before = engram::fuzz::outcomes();
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    const bool loaded = engram::fuzz::outcomes().loaded > before.loaded;
    std::printf("%s: %s\n", input.c_str(), loaded ? "loaded" : "rejected with an engram::Error");
    if (loaded != expect_load) {
      std::fprintf(stderr, "%s: expected it to %s\n", input.c_str(), expect_load ? "load" : "be rejected");
      ++wrong;
    }
  }
  std::printf("%zu inputs, %d not as expected\n", inputs.size(), wrong);
  return wrong == 0 ? 0 : 1;
}
