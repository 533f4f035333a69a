// The Tiny-ImageNet folder reader (data/tiny_imagenet.h): wnids.txt, the val
// annotations and one image, which the annotations may name as val_0.JPEG.
// The input is the three files separated by NUL bytes. A load that succeeds
// writes the image cache and loads a second time from it.
#include <algorithm>

#include "data/tiny_imagenet.h"
#include "tests/fuzz/fuzz_support.h"

using namespace engram;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* end = data + size;
  const uint8_t* wnids_end = std::find(data, end, 0);
  const uint8_t* annotations_end = std::find(std::min(wnids_end + 1, end), end, 0);
  if (annotations_end == end) return 0;
  const fuzz::fs::path root = fuzz::fresh_scratch();
  fuzz::write_file(root / "wnids.txt", data, static_cast<size_t>(wnids_end - data));
  fuzz::write_file(root / "val/val_annotations.txt", wnids_end + 1,
                   static_cast<size_t>(annotations_end - wnids_end - 1));
  fuzz::write_file(root / "val/images/val_0.JPEG", annotations_end + 1, static_cast<size_t>(end - annotations_end - 1));
  fuzz::load_or_error([&] {
    data::load_tiny_imagenet(root.string(), /*train=*/false);
    data::load_tiny_imagenet(root.string(), /*train=*/false);
  });
  return 0;
}
