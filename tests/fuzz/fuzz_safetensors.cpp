// The safetensors reader (nn/safetensors.h).
#include "nn/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

using namespace engram;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::fs::path file = fuzz::fresh_scratch() / "model.safetensors";
  fuzz::write_file(file, data, size);
  fuzz::load_or_error([&] { nn::load_safetensors(file.string()); });
  return 0;
}
