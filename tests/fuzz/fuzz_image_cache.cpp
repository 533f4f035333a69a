// The decoded-image cache (data/image_cache.h), with the seeds' fingerprint.
#include "data/image_cache.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/seeds.h"

using namespace engram;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::fs::path file = fuzz::fresh_scratch() / "train.engram-cache";
  fuzz::write_file(file, data, size);
  fuzz::load_or_error([&] {
    data::ImageDataset dataset;
    std::string reason;
    if (!data::read_image_cache(file.string(), fuzz::kSeedFingerprint, dataset, reason)) throw IOError(reason);
  });
  return 0;
}
