// spaced_kd's presets: the values each one sets, and the paper's two run end
// to end on generated files in the real formats (CIFAR-100 binaries, a
// Tiny-ImageNet JPEG tree), with a flag given explicitly winning over the
// preset's value.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "distill/presets.h"
#include "train/run_data.h"
#include "tests/support/jpeg_files.h"
#include "tests/support/programs.h"

using Catch::Matchers::Contains;
using namespace engram;
using namespace engram::testing;
namespace fs = std::filesystem;

namespace {

// Deterministic noise bytes, a different stream per file.
std::vector<uint8_t> noise(size_t n, uint32_t seed) {
  std::vector<uint8_t> bytes(n);
  uint32_t x = seed * 2654435761u + 1;
  for (uint8_t& b : bytes) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return bytes;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

// CIFAR-100's binary format: per record a coarse and a fine label byte, then
// 3 x 32 x 32 pixel bytes.
void write_cifar100_file(const fs::path& path, int records, uint32_t seed) {
  std::vector<uint8_t> bytes;
  const std::vector<uint8_t> pixels = noise(static_cast<size_t>(records) * 3072, seed);
  for (int r = 0; r < records; ++r) {
    bytes.push_back(static_cast<uint8_t>(r % 20));
    bytes.push_back(static_cast<uint8_t>((r * 37) % 100));
    bytes.insert(bytes.end(), pixels.begin() + r * 3072, pixels.begin() + (r + 1) * 3072);
  }
  write_bytes(path, bytes);
}

// Tiny-ImageNet's tree: wnids.txt, train/<wnid>/images/*.JPEG, val/images and
// val_annotations.txt; 64 x 64 RGB JPEGs.
void write_tiny_imagenet(const fs::path& root, const std::vector<std::string>& wnids, int per_class, int val) {
  std::ofstream(root / "wnids.txt");
  std::string list, annotations;
  uint32_t seed = 1;
  for (const std::string& wnid : wnids) {
    list += wnid + "\n";
    for (int i = 0; i < per_class; ++i)
      write_bytes(root / "train" / wnid / "images" / (wnid + "_" + std::to_string(i) + ".JPEG"),
                  encode_jpeg(noise(64 * 64 * 3, seed++), 64, 64, 3));
  }
  for (int i = 0; i < val; ++i) {
    const std::string name = "val_" + std::to_string(i) + ".JPEG";
    write_bytes(root / "val" / "images" / name, encode_jpeg(noise(64 * 64 * 3, seed++), 64, 64, 3));
    annotations += name + "\t" + wnids[static_cast<size_t>(i) % wnids.size()] + "\t0\t0\t63\t63\n";
  }
  std::ofstream(root / "wnids.txt") << list;
  std::ofstream(root / "val" / "val_annotations.txt") << annotations;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

}  // namespace

TEST_CASE("the paper's presets hold the reference code's published settings", "[presets]") {
  for (const std::string name : {"cifar100", "tiny-imagenet"}) {
    INFO(name);
    const distill::Preset p = distill::preset(name);
    const train::TrainConfig& t = p.config.train;
    CHECK(t.dataset == name);
    CHECK(p.config.teacher_model == "resnet18");
    CHECK(p.config.student_model == "resnet18");
    CHECK(t.epochs == 80);
    CHECK(t.batch == 128);
    CHECK(t.optimizer == train::OptimizerKind::sgd);
    CHECK(t.lr == 0.01);
    CHECK(t.schedule == train::ScheduleKind::constant);
    CHECK(t.warmup_epochs == 0);
    CHECK(t.momentum == 0.9);
    CHECK(!t.nesterov);
    CHECK(t.weight_decay == 5e-4);
    CHECK(p.config.loss.alpha == 0.3);
    CHECK(p.config.loss.temperature == 3);
    CHECK(p.config.loss.beta == 0.03);
    CHECK(p.config.loss.kl_form == KLForm::standard);
    CHECK(p.s == std::vector<double>{1.5});
    CHECK(t.augment);
    CHECK(t.crop_padding == 4);
    CHECK(t.subset == 0);
    CHECK(t.test_subset == 0);
  }
  CHECK(distill::preset("cifar100").config.train.rotation_degrees == 15);
  CHECK(distill::preset("tiny-imagenet").config.train.rotation_degrees == 0);

  const distill::Preset cpu = distill::preset("cpu"), gpu = distill::preset("gpu");
  CHECK(cpu.config.train.dataset == "fashion-mnist");
  CHECK(cpu.config.train.subset == 4096);
  CHECK(gpu.config.train.subset == 0);
  CHECK(gpu.config.teacher_model == "resnet56");
  CHECK(cpu.config.train.crop_padding == -1);  // the dataset's own 2-pixel crop
  CHECK_THROWS_AS(distill::preset("imagenet"), ConfigError);
  CHECK_THROWS_WITH(distill::preset("imagenet"),
                    Contains("must be auto, cpu, gpu, cifar100, tiny-imagenet; got \"imagenet\""));
}

TEST_CASE("the crop padding and rotation flags reach the training batches' augmentation", "[presets]") {
  const data::DatasetSpec cifar = data::dataset_spec("cifar100");
  train::TrainConfig c = distill::preset("cifar100").config.train;
  c.crop_padding = 2;
  data::AugmentSpec a = train::training_augment(c, cifar);
  CHECK(a.crop_padding == 2);
  CHECK(a.rotation_degrees == 15);
  CHECK(a.horizontal_flip);
  CHECK(a.mean == cifar.train_augment.mean);
  c.crop_padding = -1;
  CHECK(train::training_augment(c, cifar).crop_padding == 4);  // CIFAR's own
  c.augment = false;
  CHECK(!train::training_augment(c, cifar).is_random());
  c = train::TrainConfig{};
  c.rotation_degrees = 46;
  CHECK_THROWS_WITH(train::validate(c), Contains("rotation_degrees must be in [0, 45] degrees, got 46"));
  c.rotation_degrees = 0;
  c.crop_padding = -2;
  CHECK_THROWS_WITH(train::validate(c), Contains("crop_padding must be >= 0 pixels (or -1: the dataset's), got -2"));
}

TEST_CASE("spaced_kd --preset cifar100 trains on CIFAR-100 binaries with the paper's recipe", "[presets][programs]") {
  const std::string dir = program_dir("preset_cifar100");
  write_cifar100_file(dir + "/data/train.bin", 64, 1);
  write_cifar100_file(dir + "/data/test.bin", 32, 2);

  // The preset's own models and length, as the program announces them; the
  // run stops at once on the folder that is not there, naming the file.
  Ran missing = run_program("spaced_kd", "--preset cifar100 --device cpu --data " + dir + "/nowhere --out " + dir + "/x");
  CHECK(missing.status == 1);
  CHECK_THAT(missing.out, Contains("3 rows x 3 seeds on cpu (preset cifar100): cifar100, teacher resnet18, "
                                   "student resnet18, 80 epochs"));
  CHECK_THAT(missing.err, Contains(dir + "/nowhere") && Contains("train.bin"));

  // Small models and a short run, every other value the preset's.
  Ran ran = run_program("spaced_kd", "--preset cifar100 --device cpu --data " + dir +
                                         "/data --teacher resnet8 --student resnet8 --epochs 2 --batch 16 "
                                         "--eval-batch 32 --seeds 1 --bn-recalibrate 0 --out " + dir + "/run");
  INFO(ran.err);
  REQUIRE(ran.status == 0);
  const nlohmann::json table = read_json(dir + "/run/table.json");
  CHECK(table["dataset"] == "cifar100");
  CHECK(table["teacher"] == "resnet8");  // the flag wins
  CHECK(table["epochs"] == 2);
  CHECK(table["batch"] == 16);
  CHECK(table["lr"] == 0.01);
  CHECK(table["momentum"] == 0.9);
  CHECK(table["weight_decay"] == 5e-4);
  CHECK(table["schedule"] == "constant");
  CHECK(table["crop_padding"] == 4);
  CHECK(table["rotation_degrees"] == 15);
  CHECK(table["alpha"] == 0.3);
  CHECK(table["temperature"] == 3);
  CHECK(table["beta"] == 0.03);
  REQUIRE(table["rows"].size() == 3);
  CHECK(table["rows"][2]["mode"] == "spaced");
  CHECK(table["rows"][2]["s"] == 1.5);
  // A constant schedule: every epoch at lr 0.01.
  const nlohmann::json metrics = read_json(dir + "/run/spaced-s1.5/seed0/metrics.json");
  REQUIRE(metrics["epochs"].size() == 2);
  for (const nlohmann::json& epoch : metrics["epochs"]) CHECK(epoch["lr"] == 0.01);
  fs::remove_all(dir);
}

TEST_CASE("spaced_kd --preset tiny-imagenet trains on a Tiny-ImageNet JPEG tree", "[presets][programs]") {
  const std::string dir = program_dir("preset_tiny");
  write_tiny_imagenet(dir + "/data", {"n01443537", "n01629819", "n01641577"}, 8, 12);
  Ran ran = run_program("spaced_kd", "--preset tiny-imagenet --device cpu --data " + dir +
                                         "/data --teacher resnet8 --student resnet8 --modes spaced --epochs 2 "
                                         "--batch 8 --eval-batch 12 --seeds 1 --bn-recalibrate 0 --out " + dir + "/run");
  INFO(ran.err);
  REQUIRE(ran.status == 0);
  CHECK_THAT(ran.out, Contains("(preset tiny-imagenet): tiny-imagenet, teacher resnet8"));
  const nlohmann::json table = read_json(dir + "/run/table.json");
  CHECK(table["dataset"] == "tiny-imagenet");
  CHECK(table["crop_padding"] == 4);  // the dataset's own is 8
  CHECK(table["rotation_degrees"] == 0);
  CHECK(table["schedule"] == "constant");
  REQUIRE(table["rows"].size() == 1);
  CHECK(table["rows"][0]["seeds"] == 1);
  fs::remove_all(dir);
}
