// Checkpoint interop with PyTorch (tests/torch/check_checkpoint.py): an
// engram-written ResNet-18 checkpoint loads into the PyTorch model with
// load_state_dict(strict=True) and gives engram's logits; a PyTorch-written
// state dict loads into engram and gives PyTorch's logits. Exits 77 (CTest:
// skipped) when /usr/bin/python3 cannot import torch.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>

#include "core/autograd.h"
#include "core/random.h"
#include "train/checkpoint.h"
#include "nn/models.h"
#include "nn/safetensors.h"

#ifndef ENGRAM_TORCH_SCRIPT
#error "tests/CMakeLists.txt defines ENGRAM_TORCH_SCRIPT, the path of tests/torch/check_checkpoint.py"
#endif

using namespace engram;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr double kTolerance = 1e-4;  // |engram - torch| <= kTolerance * (1 + |torch|), f32 on the CPU

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engram_torch_interop_" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

int run(const std::string& command) {
  int status = std::system(command.c_str());
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void skip_without_torch() {
  if (run(std::string(kPython) + " -c 'import torch' >/dev/null 2>&1") == 0) return;
  std::cerr << "test_torch_interop: skipped, " << kPython << " cannot import torch (apt-get install python3-torch)\n";
  std::exit(77);
}

// Gives the model's batch norms non-trivial statistics and affine parameters
// and a step counter, so that eval-mode outputs depend on every buffer.
void randomise_batch_norms(nn::Module& model, Generator& gen) {
  nn::NamedTensors state;
  for (const auto& [name, t] : model.state_dict()) {
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    Tensor value = t.detach().clone();
    if (ends_with("running_mean")) value = random::normal(t.shape(), 0.0, 0.2, gen);
    if (ends_with("running_var")) value = random::uniform(t.shape(), 0.5, 2.0, gen);
    if (t.dim() == 1 && ends_with(".weight")) value = random::uniform(t.shape(), 0.5, 1.5, gen);
    if (t.dim() == 1 && ends_with(".bias") && name != "linear.bias") value = random::normal(t.shape(), 0.0, 0.1, gen);
    if (ends_with("num_batches_tracked")) value = Tensor::scalar(7, DType::f64);
    state.emplace_back(name, value);
  }
  model.load_state_dict(state, true);
}

Tensor eval_logits(nn::Classifier& model, const Tensor& x) {
  NoGradGuard no_grad;
  model.eval();
  return model.forward(x).logits;
}

double worst_relative_error(const Tensor& got, const Tensor& expected) {
  std::vector<float> a = got.to_vector<float>(), b = expected.to_vector<float>();
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / (1 + std::fabs(b[i])));
  return worst;
}

}  // namespace

TEST_CASE("ResNet-18 checkpoints move between engram and PyTorch", "[checkpoint][torch]") {
  skip_without_torch();
  TempDir dir;

  // (a) engram writes a checkpoint with SGD momentum state, an input and its logits.
  manual_seed(11);
  Generator gen(12);
  auto model = nn::make_model("resnet18", 3, 10);
  randomise_batch_norms(*model, gen);
  SgdConfig config;
  config.lr = 0.05;
  config.momentum = 0.9;
  optim::SGD sgd(model->parameters(), config);
  for (const Tensor& p : model->parameters()) p.set_grad(random::normal(p.shape(), 0, 0.01, gen));
  sgd.step();  // fills the momentum buffers (and moves the weights) without a backward pass
  train::save_checkpoint((dir.path / "engram.ckpt").string(), {{{"", model.get()}}, {{"optimizer", &sgd}}},
                      {{"num_batches_tracked", 7}});
  Tensor x = random::normal({2, 3, 32, 32}, 0, 1, gen);
  Tensor logits = eval_logits(*model, x);
  nn::save_safetensors((dir.path / "engram_io.safetensors").string(), {{"input", x}, {"logits", logits}});

  // PyTorch checks (a) and writes (b).
  const std::string command = std::string(kPython) + " " + ENGRAM_TORCH_SCRIPT + " '" + dir.path.string() + "'";
  INFO(command);
  REQUIRE(run(command) == 0);

  // (b) engram loads PyTorch's state dict strictly and reproduces its logits.
  nn::SafetensorsFile weights = nn::load_safetensors((dir.path / "torch_weights.safetensors").string());
  CHECK(weights.metadata.at("written_by") == "torch");
  auto from_torch = nn::make_model("resnet18", 3, 10);
  from_torch->load_state_dict(weights.tensors, true);
  CHECK(std::static_pointer_cast<nn::ResNet>(from_torch)->bn1->num_batches_tracked == 2);
  nn::SafetensorsFile io = nn::load_safetensors((dir.path / "torch_io.safetensors").string());
  REQUIRE(io.tensors.size() == 2);
  REQUIRE(io.tensors[0].first == "input");
  REQUIRE(io.tensors[1].first == "logits");
  Tensor torch_logits = io.tensors[1].second;
  REQUIRE(torch_logits.shape() == Shape{2, 10});
  Tensor engram_logits = eval_logits(*from_torch, io.tensors[0].second);
  double worst = worst_relative_error(engram_logits, torch_logits);
  INFO("max |engram - torch| / (1 + |torch|) = " << worst);
  CHECK(worst <= kTolerance);
  // The logits are not trivially equal (e.g. all zero): they differ between classes.
  std::vector<float> values = torch_logits.to_vector<float>();
  CHECK(*std::max_element(values.begin(), values.end()) - *std::min_element(values.begin(), values.end()) > 0.1f);
}
