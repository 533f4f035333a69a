#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/autograd.h"
#include "core/random.h"
#include "kernels/loss.h"
#include "train/checkpoint.h"
#include "nn/models.h"
#include "nn/safetensors.h"
#include "tests/support/checks.h"

using namespace engram;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engram_checkpoint_" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

// Same names in the same order, bitwise equal values.
void check_identical(const nn::NamedTensors& a, const nn::NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(same_bytes(a[i].second, b[i].second));
  }
}

// One SGD step of a classifier on a fixed batch of 1-channel 8x8 images.
void train_step(nn::Classifier& model, optim::Optimizer& optimizer, uint64_t seed) {
  Generator gen(seed);
  Tensor x = random::normal({2, 1, 8, 8}, 0, 1, gen);
  Tensor labels = Tensor::from_vector<int32_t>({3, 7}, {2});
  optimizer.zero_grad();
  cross_entropy(model.forward(x).logits, labels).backward();
  optimizer.step();
}

SgdConfig sgd_config() {
  SgdConfig config;
  config.lr = 0.1;
  config.momentum = 0.9;
  config.weight_decay = 5e-4;
  return config;
}

}  // namespace

TEST_CASE("a ResNet-20 + SGD checkpoint round-trips bitwise and resumes exactly", "[checkpoint]") {
  TempDir dir;
  manual_seed(1);
  auto model = nn::make_model("resnet20", 1, 10);
  optim::SGD sgd(model->parameters(), sgd_config());
  train_step(*model, sgd, 10);
  train_step(*model, sgd, 11);
  const nlohmann::json state = {{"epoch", 3}, {"step", 17}, {"rng", {{"seed", 42}, {"offset", 1234}}}};
  const fs::path path = dir.path / "resnet20.ckpt";
  train::save_checkpoint(path, {{{"", model.get()}}, {{"optimizer", &sgd}}}, state);

  manual_seed(2);  // different initial weights
  auto restored = nn::make_model("resnet20", 1, 10);
  optim::SGD restored_sgd(restored->parameters(), sgd_config());
  CHECK_FALSE(same_bytes(restored->state_dict()[0].second, model->state_dict()[0].second));
  nlohmann::json loaded = train::load_checkpoint(path, {{{"", restored.get()}}, {{"optimizer", &restored_sgd}}});

  CHECK(loaded == state);
  check_identical(restored->state_dict(), model->state_dict());
  check_identical(restored_sgd.state(), sgd.state());
  CHECK(restored_sgd.steps_taken() == 2);
  CHECK(std::static_pointer_cast<nn::ResNet>(restored)->bn1->num_batches_tracked == 2);
  // Every parameter got a momentum buffer: step + one buffer per parameter.
  CHECK(sgd.state().size() == model->parameters().size() + 1);

  // The resumed run continues exactly as the uninterrupted one.
  train_step(*model, sgd, 12);
  train_step(*restored, restored_sgd, 12);
  check_identical(restored->state_dict(), model->state_dict());
  check_identical(restored_sgd.state(), sgd.state());
}

TEST_CASE("checkpoint file: PyTorch names, prefixed optimizer state, format and JSON metadata", "[checkpoint]") {
  TempDir dir;
  manual_seed(3);
  auto model = nn::make_model("resnet20", 1, 10);
  optim::SGD sgd(model->parameters(), sgd_config());
  train_step(*model, sgd, 1);
  const fs::path path = dir.path / "names.ckpt";
  train::save_checkpoint(path, {{{"", model.get()}}, {{"optimizer", &sgd}}}, {{"note", "hi"}});

  nn::SafetensorsFile file = nn::load_safetensors(path);
  CHECK(file.metadata.at("format") == "engram-checkpoint-v1");
  CHECK(nlohmann::json::parse(file.metadata.at("engram")) == nlohmann::json({{"note", "hi"}}));
  std::map<std::string, Tensor> by_name(file.tensors.begin(), file.tensors.end());
  for (const char* name : {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.shortcut.0.weight",
                           "layer3.2.bn2.num_batches_tracked", "linear.bias", "optimizer.step",
                           "optimizer.0.momentum_buffer", "optimizer.64.momentum_buffer"}) {
    INFO(name);
    CHECK(by_name.count(name) == 1);
  }
  CHECK(by_name.at("optimizer.0.momentum_buffer").shape() == by_name.at("conv1.weight").shape());
  CHECK(by_name.at("layer3.2.bn2.num_batches_tracked").item<double>() == 1.0);
  CHECK(file.tensors.size() == model->state_dict().size() + sgd.state().size());
}

TEST_CASE("checkpoints with several modules and optimizers (SGD and AdamW)", "[checkpoint]") {
  TempDir dir;
  manual_seed(4);
  auto teacher = nn::make_model("resnet20", 1, 10);
  auto student = nn::make_model("resnet20", 1, 10);
  optim::SGD teacher_sgd(teacher->parameters(), sgd_config());
  AdamWConfig adamw_config;
  adamw_config.lr = 1e-3;
  optim::AdamW student_adamw(student->parameters(), adamw_config);
  train_step(*teacher, teacher_sgd, 5);
  train_step(*student, student_adamw, 6);
  train_step(*student, student_adamw, 7);
  const fs::path path = dir.path / "kd.ckpt";
  // The student under the bare prefix: its names must not swallow "teacher." entries.
  train::CheckpointParts parts{{{"", student.get()}, {"teacher", teacher.get()}},
                            {{"optimizer", &teacher_sgd}, {"student_optimizer", &student_adamw}}};
  train::save_checkpoint(path, parts, {{"replay", {1, 2, 3}}});

  manual_seed(5);
  auto teacher2 = nn::make_model("resnet20", 1, 10);
  auto student2 = nn::make_model("resnet20", 1, 10);
  optim::SGD teacher_sgd2(teacher2->parameters(), sgd_config());
  optim::AdamW student_adamw2(student2->parameters(), adamw_config);
  nlohmann::json state =
      train::load_checkpoint(path, {{{"", student2.get()}, {"teacher", teacher2.get()}},
                                 {{"optimizer", &teacher_sgd2}, {"student_optimizer", &student_adamw2}}});
  CHECK(state["replay"] == nlohmann::json({1, 2, 3}));
  check_identical(teacher2->state_dict(), teacher->state_dict());
  check_identical(student2->state_dict(), student->state_dict());
  check_identical(teacher_sgd2.state(), teacher_sgd.state());
  check_identical(student_adamw2.state(), student_adamw.state());
  CHECK(student_adamw2.steps_taken() == 2);
}

TEST_CASE("load_checkpoint reports missing, unexpected and mismatched entries", "[checkpoint][errors]") {
  TempDir dir;
  manual_seed(6);
  auto model = nn::make_model("resnet20", 1, 10);
  optim::SGD sgd(model->parameters(), sgd_config());
  train_step(*model, sgd, 1);
  const fs::path with_optimizer = dir.path / "with_optimizer.ckpt";
  const fs::path model_only = dir.path / "model_only.ckpt";
  train::save_checkpoint(with_optimizer, {{{"", model.get()}}, {{"optimizer", &sgd}}}, {});
  train::save_checkpoint(model_only, {{{"", model.get()}}, {}}, {});

  auto other = nn::make_model("resnet20", 1, 10);
  std::vector<Tensor> snapshot;
  for (const auto& [name, t] : other->state_dict()) snapshot.push_back(t.clone());
  auto check_unchanged = [&](const nn::Module& m) {
    auto now = m.state_dict();
    for (size_t i = 0; i < snapshot.size(); ++i) CHECK(same_bytes(now[i].second, snapshot[i]));
  };

  SECTION("the optimizer's entries are missing") {
    optim::SGD fresh(other->parameters(), sgd_config());
    CHECK_THROWS_AS(train::load_checkpoint(model_only, {{{"", other.get()}}, {{"optimizer", &fresh}}}), ValueError);
    CHECK_THROWS_WITH(train::load_checkpoint(model_only, {{{"", other.get()}}, {{"optimizer", &fresh}}}),
                      Catch::StartsWith("load_checkpoint: " + model_only.string()) &&
                          Catch::Contains("missing entries: optimizer.step"));
    check_unchanged(*other);
  }
  SECTION("the optimizer's entries are unexpected") {
    CHECK_THROWS_WITH(train::load_checkpoint(with_optimizer, {{{"", other.get()}}, {}}),
                      Catch::Contains("unexpected entries: optimizer.step, optimizer.0.momentum_buffer"));
    check_unchanged(*other);
  }
  SECTION("an optimizer that holds momentum buffers needs them in the file") {
    optim::SGD trained(other->parameters(), sgd_config());
    train_step(*other, trained, 2);
    optim::SGD fresh_saved(model->parameters(), sgd_config());
    const fs::path fresh_path = dir.path / "fresh_optimizer.ckpt";
    train::save_checkpoint(fresh_path, {{}, {{"optimizer", &fresh_saved}}}, {});
    CHECK_THROWS_WITH(train::load_checkpoint(fresh_path, {{}, {{"optimizer", &trained}}}),
                      Catch::Contains("missing entries: optimizer.0.momentum_buffer"));
  }
  SECTION("a different architecture names its missing and unexpected entries") {
    auto resnet32 = nn::make_model("resnet32", 1, 10);
    CHECK_THROWS_WITH(train::load_checkpoint(model_only, {{{"", resnet32.get()}}, {}}),
                      Catch::Contains("missing entries: ") && Catch::Contains("layer1.3.conv1.weight") &&
                          !Catch::Contains("unexpected entries"));
    auto mobilenet = nn::make_model("mobilenetv2", 1, 10);
    CHECK_THROWS_WITH(train::load_checkpoint(model_only, {{{"", mobilenet.get()}}, {}}),
                      Catch::Contains("unexpected entries: ") && Catch::Contains("layer1.0.conv1.weight"));
  }
  SECTION("a shape mismatch is a ShapeError naming the entry; nothing is loaded") {
    auto hundred = nn::make_model("resnet20", 1, 100);
    CHECK_THROWS_AS(train::load_checkpoint(model_only, {{{"", hundred.get()}}, {}}), ShapeError);
    CHECK_THROWS_WITH(train::load_checkpoint(model_only, {{{"", hundred.get()}}, {}}),
                      Catch::Contains("linear.weight: the checkpoint has shape [10, 64], the model expects [100, 64]"));
    auto three_channels = nn::make_model("resnet20", 3, 10);
    Tensor conv1 = three_channels->state_dict()[0].second.clone();
    CHECK_THROWS_AS(train::load_checkpoint(model_only, {{{"", three_channels.get()}}, {}}), ShapeError);
    CHECK(same_bytes(three_channels->state_dict()[0].second, conv1));
  }
  SECTION("a prefixed module is found under its prefix only") {
    CHECK_THROWS_WITH(train::load_checkpoint(model_only, {{{"teacher", other.get()}}, {}}),
                      Catch::Contains("missing entries: teacher.conv1.weight") &&
                          Catch::Contains("unexpected entries: conv1.weight"));
  }
  SECTION("an entry the optimizer does not use is unexpected") {
    nn::NamedTensors tensors = model->state_dict();
    for (auto& [name, t] : sgd.state()) tensors.emplace_back("optimizer." + name, t);
    tensors.emplace_back("optimizer.0.exp_avg", Tensor::zeros(model->parameters()[0].shape()));
    const fs::path odd = dir.path / "odd_optimizer.ckpt";
    nn::save_safetensors(odd, tensors, {{"format", "engram-checkpoint-v1"}, {"engram", "{}"}});
    optim::SGD fresh(other->parameters(), sgd_config());
    CHECK_THROWS_AS(train::load_checkpoint(odd, {{{"", other.get()}}, {{"optimizer", &fresh}}}), ValueError);
    CHECK_THROWS_WITH(train::load_checkpoint(odd, {{{"", other.get()}}, {{"optimizer", &fresh}}}),
                      Catch::Contains("unexpected entries: optimizer.0.exp_avg"));
    check_unchanged(*other);  // modules are loaded after the optimizers' check
  }
  SECTION("an optimizer buffer of the wrong shape names the optimizer") {
    nn::NamedTensors tensors = {{"optimizer.step", Tensor::scalar(1, DType::f64)},
                                {"optimizer.0.momentum_buffer", Tensor::zeros({3})}};
    const fs::path odd = dir.path / "bad_buffer.ckpt";
    nn::save_safetensors(odd, tensors, {{"format", "engram-checkpoint-v1"}, {"engram", "{}"}});
    optim::SGD fresh(other->parameters(), sgd_config());
    CHECK_THROWS_AS(train::load_checkpoint(odd, {{}, {{"optimizer", &fresh}}}), ShapeError);
    CHECK_THROWS_WITH(train::load_checkpoint(odd, {{}, {{"optimizer", &fresh}}}),
                      Catch::StartsWith("load_checkpoint: " + odd.string() + ": optimizer \"optimizer\"") &&
                          Catch::Contains("0.momentum_buffer has shape [3]"));
  }
}

TEST_CASE("load_checkpoint rejects files that are not engram checkpoints", "[checkpoint][errors]") {
  TempDir dir;
  auto model = nn::make_model("resnet20", 1, 10);
  train::CheckpointParts parts{{{"", model.get()}}, {}};

  const fs::path missing = dir.path / "missing.ckpt";
  CHECK_THROWS_AS(train::load_checkpoint(missing, parts), IOError);
  CHECK_THROWS_WITH(train::load_checkpoint(missing, parts),
                    Catch::StartsWith("load_checkpoint: load_safetensors: " + missing.string()));

  const fs::path plain = dir.path / "plain.safetensors";
  nn::save_safetensors(plain, model->state_dict(), {{"format", "pt"}});
  CHECK_THROWS_AS(train::load_checkpoint(plain, parts), IOError);
  CHECK_THROWS_WITH(train::load_checkpoint(plain, parts),
                    Catch::Contains("not an engram checkpoint") && Catch::Contains("got \"pt\""));

  const fs::path no_state = dir.path / "no_state.ckpt";
  nn::save_safetensors(no_state, model->state_dict(), {{"format", "engram-checkpoint-v1"}});
  CHECK_THROWS_WITH(train::load_checkpoint(no_state, parts), Catch::Contains("no \"engram\" metadata entry"));

  const fs::path bad_json = dir.path / "bad_json.ckpt";
  nn::save_safetensors(bad_json, model->state_dict(), {{"format", "engram-checkpoint-v1"}, {"engram", "{oops"}});
  CHECK_THROWS_AS(train::load_checkpoint(bad_json, parts), IOError);
  CHECK_THROWS_WITH(train::load_checkpoint(bad_json, parts), Catch::Contains("not valid JSON"));
  // Found by fuzz_resume: a number past a double's range is nlohmann's out_of_range, not a parse_error.
  nn::save_safetensors(bad_json, model->state_dict(),
                       {{"format", "engram-checkpoint-v1"}, {"engram", "{\"epoch\": 1e999}"}});
  CHECK_THROWS_WITH(train::load_checkpoint(bad_json, parts), Catch::Contains("not valid JSON"));

  // A truncated checkpoint (e.g. a copy cut short) is an IOError naming it.
  const fs::path good = dir.path / "good.ckpt";
  train::save_checkpoint(good, parts, {});
  std::string bytes = read_bytes(good);
  const fs::path truncated = dir.path / "truncated.ckpt";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  CHECK_THROWS_AS(train::load_checkpoint(truncated, parts), IOError);
  CHECK_THROWS_WITH(train::load_checkpoint(truncated, parts), Catch::Contains(truncated.string()));
}

TEST_CASE("checkpoint parts and writes are checked", "[checkpoint][errors]") {
  TempDir dir;
  auto a = nn::make_model("resnet20", 1, 10);
  auto b = nn::make_model("resnet20", 1, 10);
  optim::SGD sgd(a->parameters(), sgd_config());
  const fs::path path = dir.path / "parts.ckpt";
  CHECK_THROWS_WITH(train::save_checkpoint(path, {{{"", a.get()}, {"", b.get()}}, {}}, {}),
                    Catch::StartsWith("save_checkpoint") && Catch::Contains("prefix \"\" is used twice"));
  CHECK_THROWS_WITH(train::save_checkpoint(path, {{{"", a.get()}}, {{"", &sgd}}}, {}),
                    Catch::Contains("non-empty prefix"));
  CHECK_THROWS_WITH(train::save_checkpoint(path, {{{"x", a.get()}}, {{"x", &sgd}}}, {}),
                    Catch::Contains("prefix \"x\" is used twice"));
  CHECK_THROWS_AS(train::save_checkpoint(path, {{{"", nullptr}}, {}}, {}), ValueError);
  CHECK_THROWS_AS(train::load_checkpoint(path, {{{"", a.get()}, {"", b.get()}}, {}}), ValueError);
  CHECK_FALSE(fs::exists(path));

  // The write itself is atomic; a failure names the path and keeps the old file.
  train::save_checkpoint(path, {{{"", a.get()}}, {}}, {{"v", 1}});
  const std::string original = read_bytes(path);
  const fs::path nowhere = dir.path / "missing_folder" / "parts.ckpt";
  CHECK_THROWS_AS(train::save_checkpoint(nowhere, {{{"", a.get()}}, {}}, {}), IOError);
  CHECK_THROWS_WITH(train::save_checkpoint(nowhere, {{{"", a.get()}}, {}}, {}),
                    Catch::StartsWith("save_checkpoint: save_safetensors: cannot write " + nowhere.string()));
  CHECK_THROWS_AS(train::save_checkpoint(dir.path, {{{"", a.get()}}, {}}, {}), IOError);  // a folder
  CHECK(read_bytes(path) == original);
  for (const auto& entry : fs::directory_iterator(dir.path))
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("a checkpoint state key that is missing or of another type is an IOError naming key and file",
          "[checkpoint][errors]") {
  const nlohmann::json state = {{"epoch", "three"}};
  CHECK(engram::testing::message_of<IOError>([&] { train::json_value<int64_t>(state, "format", "a.safetensors"); }) ==
        "checkpoint a.safetensors: the state has no key \"format\"");
  CHECK(engram::testing::message_of<IOError>([&] { train::json_value<int64_t>(state, "epoch", "a.safetensors"); }) ==
        "checkpoint a.safetensors: key \"epoch\" holds \"three\", which is not of the expected type");
  CHECK(train::json_value<std::string>(state, "epoch", "a.safetensors") == "three");
}
