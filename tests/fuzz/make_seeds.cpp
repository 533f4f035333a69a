// Writes the seed corpus, tests/fuzz/corpus/<target>/: small valid files of
// every format a fuzz target reads, made with engram's own writers (and
// libjpeg's encoder).
//   make_fuzz_seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/image_cache.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/seeds.h"
#include "tests/support/jpeg_files.h"

using namespace engram;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A 64x64 image: four flat quadrants, `components` 3 (RGB) or 1 (gray).
std::vector<uint8_t> quadrants(int components) {
  std::vector<uint8_t> pixels(64 * 64 * components);
  for (size_t i = 0; i < pixels.size(); ++i) {
    const size_t p = i / components, quadrant = (p / 64 >= 32) * 2 + (p % 64 >= 32);
    pixels[i] = static_cast<uint8_t>(40 + quadrant * 50 + (i % components) * 20);
  }
  return pixels;
}

// fuzz_tiny_imagenet's input: wnids.txt NUL val_annotations.txt NUL the image.
std::vector<uint8_t> tiny_imagenet_input(const std::vector<uint8_t>& image) {
  const std::string text = std::string("n01\nn02\n") + '\0' + "val_0.JPEG\tn02\t0\t0\t63\t63\n" + '\0';
  std::vector<uint8_t> out(text.begin(), text.end());
  out.insert(out.end(), image.begin(), image.end());
  return out;
}

std::vector<uint8_t> cifar_input(bool cifar100) {
  std::vector<uint8_t> out = {static_cast<uint8_t>(cifar100)};
  for (int record = 0; record < 2; ++record) {
    if (cifar100) out.push_back(static_cast<uint8_t>(7 + record));  // coarse label
    out.push_back(static_cast<uint8_t>(3 + record));
    for (int i = 0; i < 3072; ++i) out.push_back(static_cast<uint8_t>((i * 7 + record) % 256));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* target : {"fuzz_idx", "fuzz_cifar", "fuzz_tiny_imagenet", "fuzz_image_cache", "fuzz_safetensors",
                             "fuzz_checkpoint", "fuzz_resume"})
    fs::create_directories(out / target);

  write(out / "fuzz_idx/images-idx3", fuzz::idx_images(3));
  write(out / "fuzz_idx/labels-idx1", fuzz::idx_labels(3));
  testing::write_gz(out / "fuzz_idx/images-idx3.gz", fuzz::idx_images(2));

  write(out / "fuzz_cifar/cifar10", cifar_input(false));
  write(out / "fuzz_cifar/cifar100", cifar_input(true));

  write(out / "fuzz_tiny_imagenet/rgb-jpeg", tiny_imagenet_input(testing::encode_jpeg(quadrants(3), 64, 64, 3, 75)));
  write(out / "fuzz_tiny_imagenet/gray-jpeg", tiny_imagenet_input(testing::encode_jpeg(quadrants(1), 64, 64, 1, 75)));

  data::ImageDataset cache;
  cache.images = Tensor::from_vector<uint8_t>(std::vector<uint8_t>(2 * 3 * 4 * 4, 9), {2, 3, 4, 4});
  cache.labels = Tensor::from_vector<int32_t>({1, 0}, {2});
  cache.num_classes = 2;
  std::string reason;
  if (!data::write_image_cache((out / "fuzz_image_cache/cache").string(), fuzz::kSeedFingerprint, cache, reason)) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", reason.c_str());
    return 1;
  }

  nn::save_safetensors((out / "fuzz_safetensors/tensors").string(),
                       {{"a.weight", Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})},
                        {"b", Tensor::from_vector<double>({0.5, -1}, {2})},
                        {"c", Tensor::from_vector<int32_t>({7, 8, 9}, {3})},
                        {"d", Tensor::from_vector<uint8_t>({1, 2, 3, 4}, {2, 2})},
                        {"bn.num_batches_tracked", Tensor::from_vector<double>({12}, {})}},
                       {{"format", "seed"}});

  fuzz::CheckpointTarget target;
  target.step();
  train::save_checkpoint((out / "fuzz_checkpoint/checkpoint").string(), target.parts(),
                         {{"epoch", 1}, {"note", "seed"}});

  const fuzz::OwnFolder run("seeds");
  const std::string state = fuzz::stopped_spaced_kd_run(run.path).metadata.at("engram");
  write(out / "fuzz_resume/stopped-inside-epoch.json", std::vector<uint8_t>(state.begin(), state.end()));

  std::printf("make_fuzz_seeds: wrote the corpus in %s\n", out.c_str());
  return 0;
}
