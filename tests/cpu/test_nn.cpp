#include <catch2/catch.hpp>

#include <set>
#include <type_traits>

#include "core/random.h"
#include "nn/layers.h"
#include "nn/models.h"

using namespace engram;

namespace {
std::set<std::string> names_of(const nn::NamedTensors& tensors) {
  std::set<std::string> out;
  for (auto& [name, t] : tensors) out.insert(name);
  return out;
}
}  // namespace

TEST_CASE("CIFAR ResNet-18 has PyTorch's parameter count and names", "[nn]") {
  auto model = nn::make_model("resnet18", 3, 100);
  CHECK(model->parameter_count() == 11220132);
  CHECK(model->feature_dim() == 512);
  auto names = names_of(model->state_dict());
  for (const char* expected : {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                               "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer1.1.bn2.running_var",
                               "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.running_mean",
                               "layer4.1.conv2.weight", "linear.weight", "linear.bias"})
    CHECK(names.count(expected) == 1);
  CHECK(names.count("layer1.0.shortcut.0.weight") == 0);  // identity shortcut
  // 20 convs/linear + 20 BN layers x (weight, bias, mean, var, count) + linear bias
  CHECK(model->state_dict().size() == 122);
}

TEST_CASE("every zoo model maps images to (features, logits)", "[nn]") {
  manual_seed(0);
  for (const std::string name : {"resnet20", "wrn16_2", "vgg11", "mobilenetv2"}) {
    auto model = nn::make_model(name, 1, 10);
    model->eval();
    Tensor x = random::normal({2, 1, 28, 28}, 0, 1);
    nn::ModelOutput out = model->forward(x);
    INFO(name);
    CHECK(out.features.shape() == Shape{2, model->feature_dim()});
    CHECK(out.logits.shape() == Shape{2, 10});
  }
  CHECK_THROWS_WITH(nn::make_model("resnet19", 3, 10), Catch::Contains("resnet18") && Catch::Contains("unknown"));
}

TEST_CASE("zoo parameter counts", "[nn]") {
  // He et al.'s ResNet-20 with 1x1 projection shortcuts (option B).
  auto r20 = nn::make_model("resnet20", 3, 10);
  CHECK(r20->parameter_count() == 272474);
  // The CIFAR ResNets of the widely used PyTorch implementation, 10 classes.
  CHECK(nn::make_model("resnet18", 3, 10)->parameter_count() == 11173962);
  CHECK(nn::make_model("resnet34", 3, 10)->parameter_count() == 21282122);
  CHECK(nn::make_model("resnet50", 3, 10)->parameter_count() == 23520842);
}

// A bool sixth is a call written for the old order (bias sixth); it must not compile.
static_assert(!std::is_constructible_v<nn::Conv2d, int, int, int, int, int, bool>);
static_assert(!std::is_constructible_v<nn::Conv2d, int, int, int, int, int, bool, int>);
static_assert(std::is_constructible_v<nn::Conv2d, int, int, int, int, int, int, int, bool>);

TEST_CASE("Conv2d takes torch.nn.Conv2d's arguments in its order", "[nn]") {
  // in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias
  nn::Conv2d conv(4, 6, 3, 2, 1, 3, 2, false);
  CHECK(conv.weight.shape() == Shape{6, 2, 3, 3});
  CHECK_FALSE(conv.bias.defined());
  CHECK(conv.params.stride_h == 2);
  CHECK(conv.params.pad_h == 1);
  CHECK(conv.params.dilation_h == 3);
  CHECK(conv.params.groups == 2);
  Tensor y = conv(Tensor::zeros({1, 4, 9, 9}));
  CHECK(y.shape() == Shape{1, 6, 3, 3});  // (9 + 2 - 3 * 2 - 1) / 2 + 1
  nn::Conv2d defaults(4, 6, 3);
  CHECK(defaults.bias.shape() == Shape{6});
  CHECK(defaults.params.dilation_h == 1);
  CHECK(defaults.params.groups == 1);
}

TEST_CASE("train/eval propagate and initialisation follows PyTorch", "[nn]") {
  manual_seed(1);
  auto model = nn::make_model("resnet20", 3, 10);
  model->eval();
  for (auto& [name, child] : model->children()) CHECK_FALSE(child->is_training());
  model->train();
  CHECK(model->is_training());

  auto state = model->state_dict();
  for (auto& [name, t] : state) {
    if (name == "conv1.weight") {
      auto w = t.to_vector<float>();
      float bound = 1.0f / std::sqrt(27.0f);
      for (float v : w) REQUIRE(std::abs(v) <= bound);
    }
    if (name == "bn1.weight") CHECK(t.to_vector<float>() == std::vector<float>(16, 1.0f));
    if (name == "bn1.running_var") CHECK(t.to_vector<float>() == std::vector<float>(16, 1.0f));
  }
  for (auto& p : model->parameters()) CHECK(p.requires_grad());
}

TEST_CASE("load_state_dict copies values and names what is missing or unexpected", "[nn]") {
  manual_seed(2);
  auto a = nn::make_model("resnet20", 1, 10);
  manual_seed(3);
  auto b = nn::make_model("resnet20", 1, 10);
  b->load_state_dict(a->state_dict());
  auto sa = a->state_dict(), sb = b->state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i)
    CHECK(sa[i].second.to(DType::f64).to_vector<double>() == sb[i].second.to(DType::f64).to_vector<double>());

  auto partial = a->state_dict();
  partial.pop_back();
  partial.emplace_back("extra.weight", Tensor::zeros({1}));
  CHECK_THROWS_WITH(b->load_state_dict(partial),
                    Catch::Contains("missing entries: linear.bias") && Catch::Contains("unexpected entries: extra.weight"));
  auto wrong = a->state_dict();
  wrong[0].second = Tensor::zeros({1});
  CHECK_THROWS_AS(b->load_state_dict(wrong), ShapeError);
}
