#include "data/dataset.h"

#include "data/cifar.h"
#include "data/tiny_imagenet.h"

namespace engram::data {

namespace {

DatasetSpec make_spec(const std::string& name, std::string default_dir, int64_t classes, int64_t channels, int64_t side,
                      std::vector<float> mean, std::vector<float> std, int64_t crop_padding, bool flip) {
  DatasetSpec spec;
  spec.name = name;
  spec.default_dir = std::move(default_dir);
  spec.num_classes = classes;
  spec.channels = channels;
  spec.height = side;
  spec.width = side;
  spec.train_augment.crop_padding = crop_padding;
  spec.train_augment.horizontal_flip = flip;
  spec.train_augment.mean = std::move(mean);
  spec.train_augment.std = std::move(std);
  return spec;
}

std::string joined_names() {
  std::string all;
  for (const std::string& name : dataset_names()) all += (all.empty() ? "" : ", ") + name;
  return all;
}

}  // namespace

std::vector<std::string> dataset_names() { return {"fashion-mnist", "mnist", "cifar10", "cifar100", "tiny-imagenet"}; }

DatasetSpec dataset_spec(const std::string& name) {
  if (name == "fashion-mnist")
    return make_spec(name, default_fashion_mnist_dir(), 10, 1, 28, {0.2860f}, {0.3530f}, 2, false);
  if (name == "mnist") return make_spec(name, "datasets/mnist", 10, 1, 28, {0.1307f}, {0.3081f}, 2, false);
  if (name == "cifar10")
    return make_spec(name, "datasets/cifar-10-batches-bin", 10, 3, 32, {0.4914f, 0.4822f, 0.4465f},
                     {0.2470f, 0.2435f, 0.2616f}, 4, true);
  if (name == "cifar100")
    return make_spec(name, "datasets/cifar-100-binary", 100, 3, 32, {0.5071f, 0.4865f, 0.4409f},
                     {0.2673f, 0.2564f, 0.2762f}, 4, true);
  if (name == "tiny-imagenet")
    return make_spec(name, "datasets/tiny-imagenet-200", 200, 3, 64, {0.4802f, 0.4481f, 0.3975f},
                     {0.2302f, 0.2265f, 0.2262f}, 8, true);
  throw ValueError("dataset_spec: unknown dataset \"" + name + "\", expected one of " + joined_names());
}

ImageDataset load_dataset(const std::string& name, const std::string& dir, bool train) {
DatasetSpec spec = dataset_spec(name);  // rejects unknown names first
  const std::string& folder = dir.empty() ? spec.default_dir : dir;
  if (name == "fashion-mnist" || name == "mnist") return load_mnist_format(folder, train, name);
  ImageDataset ds = name == "cifar10"    ? load_cifar10(folder, train)
                    : name == "cifar100" ? load_cifar100(folder, train)
                                         : load_tiny_imagenet(folder, train);
  // A Tiny-ImageNet subset (fewer wnids) keeps its own class count.
  ENGRAM_CHECK(
      ds.images.size(1) == spec.channels && ds.images.size(2) == spec.height && ds.images.size(3) == spec.width,
      IOError, "load_dataset",
      name + " in " + folder + ": expected images " + shape_str({spec.channels, spec.height, spec.width}) + ", got " +
          shape_str(ds.images.shape()));
  return ds;
}

std::string default_data_dir(const std::string& name) { return dataset_spec(name).default_dir; }

ImageDataset first_samples(const ImageDataset& split, int64_t n) {
  if (n == 0) return split;
  ENGRAM_CHECK(n >= 0 && n <= split.size(), ValueError, "first_samples",
               "asked for the first " + std::to_string(n) + " samples of a split of " + std::to_string(split.size()) +
                   " (" + split.name + ")");
  ImageDataset out = split;
  out.images = split.images.narrow_rows(0, n);
  out.labels = split.labels.narrow_rows(0, n);
  return out;
}

}  // namespace engram::data
