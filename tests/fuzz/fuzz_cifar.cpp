// The CIFAR-10 and CIFAR-100 binary readers (data/cifar.h). The first byte
// picks the format (even: CIFAR-10, odd: CIFAR-100); the rest is the test file.
#include "data/cifar.h"
#include "tests/fuzz/fuzz_support.h"

using namespace engram;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool cifar100 = data[0] % 2 == 1;
  const fuzz::fs::path dir = fuzz::fresh_scratch();
  fuzz::write_file(dir / (cifar100 ? "test.bin" : "test_batch.bin"), data + 1, size - 1);
  fuzz::load_or_error([&] {
    if (cifar100)
      data::load_cifar100(dir.string(), /*train=*/false);
    else
      data::load_cifar10(dir.string(), /*train=*/false);
  });
  return 0;
}
