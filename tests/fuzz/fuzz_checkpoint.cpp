// The checkpoint reader (train/checkpoint.h): tensors into a model and an
// SGD optimizer, and the JSON state block.
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/seeds.h"

using namespace engram;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::fs::path file = fuzz::fresh_scratch() / "last.safetensors";
  fuzz::write_file(file, data, size);
  fuzz::CheckpointTarget target;
  fuzz::load_or_error([&] { train::load_checkpoint(file.string(), target.parts()); });
  return 0;
}
