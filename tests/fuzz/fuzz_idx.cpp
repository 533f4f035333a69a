// The IDX reader (data/idx.h), raw or gzip-compressed.
#include "data/idx.h"
#include "tests/fuzz/fuzz_support.h"

using namespace engram;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::fs::path file = fuzz::fresh_scratch() / "input-idx-ubyte";
  fuzz::write_file(file, data, size);
  fuzz::load_or_error([&] { data::read_idx(file.string()); });
  return 0;
}
