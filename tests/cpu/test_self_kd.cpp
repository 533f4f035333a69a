#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

#include "core/random.h"
#include "distill/self_kd.h"
#include "kernels/loss.h"
#include "nn/multi_exit.h"
#include "tests/support/checks.h"

using namespace engram;
using Catch::Contains;

namespace {

std::vector<std::string> names_of(const nn::NamedTensors& tensors) {
  std::vector<std::string> out;
  for (auto& [name, t] : tensors) out.push_back(name);
  return out;
}

bool is_exit(const std::string& name) { return name.rfind("exits.", 0) == 0; }

nn::NamedTensors without_exits(const nn::NamedTensors& state) {
  nn::NamedTensors out;
  for (auto& entry : state)
    if (!is_exit(entry.first)) out.push_back(entry);
  return out;
}

std::vector<double> values(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

Tensor normal_f64(const Shape& shape, Generator& gen, bool grad = true) {
  Tensor t = random::normal(shape, 0.0, 1.0, gen, DType::f64);
  if (grad) t.requires_grad_();
  return t;
}

// log_softmax of row i of an [N, C] row-major array, scaled by 1/T.
std::vector<double> log_softmax_row(const std::vector<double>& z, int64_t i, int64_t c, double t) {
  double m = -INFINITY;
  for (int64_t j = 0; j < c; ++j) m = std::max(m, z[i * c + j] / t);
  double sum = 0;
  for (int64_t j = 0; j < c; ++j) sum += std::exp(z[i * c + j] / t - m);
  std::vector<double> out(c);
  for (int64_t j = 0; j < c; ++j) out[j] = z[i * c + j] / t - m - std::log(sum);
  return out;
}

// L_e of distill/self_kd.h, written out with plain loops.
double expected_shallow_loss(const nn::ModelOutput& e, const nn::ModelOutput& d, const std::vector<int32_t>& y,
                             const distill::SelfKdLossConfig& config) {
  const int64_t n = e.logits.size(0), c = e.logits.size(1);
  const double t = config.temperature;
  std::vector<double> ze = values(e.logits), zd = values(d.logits);
  double ce = 0, kl = 0;
  for (int64_t i = 0; i < n; ++i) {
    ce -= log_softmax_row(ze, i, c, 1.0)[y[i]];
    std::vector<double> log_r = log_softmax_row(ze, i, c, t), log_q = log_softmax_row(zd, i, c, t);
    for (int64_t j = 0; j < c; ++j) kl += std::exp(log_q[j]) * (log_q[j] - log_r[j]);
  }
  std::vector<double> fe = values(e.features), fd = values(d.features);
  double mse = 0;
  for (size_t k = 0; k < fe.size(); ++k) mse += (fe[k] - fd[k]) * (fe[k] - fd[k]);
  return (1 - config.alpha) * ce / n + config.alpha * t * t * kl / n + config.feature_weight * mse / fe.size();
}

double expected_ce(const Tensor& logits, const std::vector<int32_t>& y) {
  const int64_t n = logits.size(0), c = logits.size(1);
  std::vector<double> z = values(logits);
  double ce = 0;
  for (int64_t i = 0; i < n; ++i) ce -= log_softmax_row(z, i, c, 1.0)[y[i]];
  return ce / n;
}

}  // namespace

TEST_CASE("multi-exit ResNet-20: every exit gives [N, 64] features and [N, classes] logits", "[self_kd]") {
  manual_seed(0);
  for (auto [channels, side] : {std::pair<int64_t, int64_t>{1, 28}, {3, 32}}) {
    auto model = nn::make_multi_exit_model("resnet20", channels, 7);
    REQUIRE(model->num_exits() == 3);
    CHECK(model->feature_dim() == 64);
    CHECK(model->num_classes() == 7);
    for (bool training : {true, false}) {
      model->train(training);
      std::vector<nn::ModelOutput> outputs = model->forward(random::normal({2, channels, side, side}, 0, 1));
      INFO(channels << "x" << side << "x" << side << (training ? " train" : " eval"));
      REQUIRE(outputs.size() == 3);
      for (auto& out : outputs) {
        CHECK(out.features.shape() == Shape{2, 64});
        CHECK(out.logits.shape() == Shape{2, 7});
      }
    }
  }
}

TEST_CASE("the deepest exit is a plain ResNet, to the bit", "[self_kd]") {
  // Built in ResNet's order, the backbone draws the same initial values.
  manual_seed(11);
  auto multi = nn::make_multi_exit_model("resnet20", 3, 10);
  manual_seed(11);
  auto same_seed = nn::make_model("resnet20", 3, 10);
  auto backbone = without_exits(multi->state_dict());
  auto plain_state = same_seed->state_dict();
  REQUIRE(names_of(backbone) == names_of(plain_state));
  for (size_t i = 0; i < backbone.size(); ++i) CHECK(values(backbone[i].second) == values(plain_state[i].second));

  manual_seed(12);
  auto plain = nn::make_model("resnet20", 3, 10);
  plain->load_state_dict(backbone);  // strict: the backbone entries are exactly ResNet's
  Tensor x = random::normal({3, 3, 32, 32}, 0, 1);
  for (bool training : {false, true}) {
    multi->train(training);
    plain->train(training);
    nn::ModelOutput deepest = multi->forward(x).back();
    nn::ModelOutput expected = plain->forward(x);
    INFO((training ? "train" : "eval"));
    CHECK(deepest.features.to_vector<float>() == expected.features.to_vector<float>());
    CHECK(deepest.logits.to_vector<float>() == expected.logits.to_vector<float>());
  }
}

TEST_CASE("multi-exit parameter names: ResNet's backbone, then exits.<i>", "[self_kd]") {
  auto model = nn::make_multi_exit_model("resnet20", 3, 10);
  std::map<std::string, Shape> shapes;
  for (auto& [name, t] : model->state_dict()) shapes[name] = t.shape();
  // Stage 1 (16 channels) widens to 32 then 64; stage 2 (32) to 64; stage 3 is the deepest exit.
  CHECK(shapes.at("exits.0.bottleneck.0.weight") == Shape{32, 16, 3, 3});
  CHECK(shapes.at("exits.0.bottleneck.1.running_mean") == Shape{32});
  CHECK(shapes.at("exits.0.bottleneck.3.weight") == Shape{64, 32, 3, 3});
  CHECK(shapes.at("exits.0.bottleneck.4.num_batches_tracked") == Shape{});
  CHECK(shapes.at("exits.0.linear.weight") == Shape{10, 64});
  CHECK(shapes.at("exits.1.bottleneck.0.weight") == Shape{64, 32, 3, 3});
  CHECK(shapes.at("exits.1.linear.bias") == Shape{10});
  CHECK(shapes.count("exits.0.bottleneck.0.bias") == 0);  // BN follows: no conv bias
  CHECK(shapes.count("exits.1.bottleneck.3.weight") == 0);
  CHECK(shapes.count("exits.2.linear.weight") == 0);
  CHECK(names_of(without_exits(model->state_dict())) == names_of(nn::make_model("resnet20", 3, 10)->state_dict()));

  auto r18 = nn::make_multi_exit_model("resnet18", 3, 100);
  CHECK(r18->num_exits() == 4);
  CHECK(r18->feature_dim() == 512);
  std::set<std::string> names;
  for (auto& [name, t] : r18->named_parameters()) names.insert(name);
  CHECK(names.count("exits.0.bottleneck.6.weight") == 1);  // 64 -> 128 -> 256 -> 512
  CHECK(names.count("exits.2.bottleneck.0.weight") == 1);
  CHECK(names.count("exits.3.linear.weight") == 0);
}

TEST_CASE("shallow-exit and backbone parameters partition parameters()", "[self_kd]") {
  auto model = nn::make_multi_exit_model("resnet20", 3, 10);
  auto all = model->named_parameters();
  std::vector<Tensor> shallow = model->shallow_exit_parameters(), backbone = model->backbone_parameters();
  REQUIRE(shallow.size() + backbone.size() == all.size());
  size_t s = 0, b = 0;
  for (auto& [name, t] : all) {
    INFO(name);
    if (is_exit(name))
      CHECK(shallow[s++].same(t));
    else
      CHECK(backbone[b++].same(t));
  }
  int64_t backbone_count = 0;
  for (auto& t : backbone) backbone_count += t.numel();
  CHECK(backbone_count == nn::make_model("resnet20", 3, 10)->parameter_count());
  CHECK_FALSE(shallow.empty());
}

TEST_CASE("self-KD losses equal their closed form", "[self_kd]") {
  Generator gen(7);
  const std::vector<int32_t> y = {2, 0, 3};
  Tensor labels = Tensor::from_vector<int32_t>(y, {3});
  std::vector<nn::ModelOutput> exits;
  for (int k = 0; k < 3; ++k) exits.push_back({normal_f64({3, 5}, gen, false), normal_f64({3, 4}, gen, false)});
  for (auto config : {distill::SelfKdLossConfig{}, distill::SelfKdLossConfig{0.7, 1.5, 0.5},
                      distill::SelfKdLossConfig{0.0, 3.0, 0.0}}) {
    INFO("alpha " << config.alpha << ", T " << config.temperature << ", beta " << config.feature_weight);
    double e0 = expected_shallow_loss(exits[0], exits[2], y, config);
    double e1 = expected_shallow_loss(exits[1], exits[2], y, config);
    CHECK(distill::shallow_exit_loss(exits[0], exits[2], labels, config).item<double>() == Approx(e0).epsilon(1e-12));
    CHECK(distill::self_kd_loss(exits, labels, config).item<double>() ==
          Approx(expected_ce(exits[2].logits, y) + e0 + e1).epsilon(1e-12));
  }
  // One exit: plain cross-entropy of the deepest.
  CHECK(distill::self_kd_loss({exits[2]}, labels, {}).item<double>() ==
        Approx(expected_ce(exits[2].logits, y)).epsilon(1e-12));
}

TEST_CASE("no gradient reaches the deepest exit through a shallow exit's loss", "[self_kd]") {
  Generator gen(8);
  Tensor labels = Tensor::from_vector<int32_t>({1, 0, 3}, {3});
  nn::ModelOutput exit{normal_f64({3, 5}, gen), normal_f64({3, 4}, gen)};
  nn::ModelOutput deepest{normal_f64({3, 5}, gen), normal_f64({3, 4}, gen)};
  distill::shallow_exit_loss(exit, deepest, labels, {}).backward();
  CHECK(exit.logits.grad().defined());
  CHECK(exit.features.grad().defined());
  CHECK_FALSE(deepest.logits.grad().defined());
  CHECK_FALSE(deepest.features.grad().defined());

  // The online loss gives the deepest exit its cross-entropy gradient only.
  exit.logits.zero_grad();
  distill::self_kd_loss({exit, deepest}, labels, {}).backward();
  Tensor ce_only = Tensor::from_vector<double>(values(deepest.logits), {3, 4}).requires_grad_();
  cross_entropy(ce_only, labels).backward();
  CHECK(values(deepest.logits.grad()) == values(ce_only.grad()));
  CHECK_FALSE(deepest.features.grad().defined());

  // In the model: exit 0's loss trains stage 1 and exit 0, never stage 3 or the deepest classifier.
  manual_seed(3);
  auto model = nn::make_multi_exit_model("resnet20", 1, 4);
  auto outputs = model->forward(random::normal({3, 1, 12, 12}, 0, 1));
  distill::shallow_exit_loss(outputs[0], outputs.back(), labels, {}).backward();
  for (auto& [name, t] : model->named_parameters()) {
    INFO(name);
    bool reached = t.grad().defined();
    if (name.rfind("layer1.", 0) == 0 || name.rfind("exits.0.", 0) == 0 || name.rfind("conv1.", 0) == 0 ||
        name.rfind("bn1.", 0) == 0)
      CHECK(reached);
    else
      CHECK_FALSE(reached);
  }
}

TEST_CASE("shallow_exit_loss gradients match central differences in double", "[self_kd][gradcheck]") {
  for (auto config : {distill::SelfKdLossConfig{}, distill::SelfKdLossConfig{0.9, 0.5, 2.0}}) {
    testing::OpCase op_case;
    op_case.name = "shallow_exit_loss alpha " + std::to_string(config.alpha);
    // Inputs: exit features, exit logits (differentiated), deepest features and logits (teacher).
    op_case.make_inputs = [](DType dtype, Generator& gen) {
      REQUIRE(dtype == DType::f64);
      return std::vector<Tensor>{normal_f64({3, 5}, gen), normal_f64({3, 4}, gen), normal_f64({3, 5}, gen, false),
                                 normal_f64({3, 4}, gen, false)};
    };
    op_case.run = [config](const std::vector<Tensor>& in) {
      return distill::shallow_exit_loss({in[0], in[1]}, {in[2], in[3]}, Tensor::from_vector<int32_t>({3, 1, 0}, {3}),
                                        config);
    };
    auto result = testing::gradcheck(op_case);
    INFO(result.report);
    CHECK(result.ok);
  }
}

TEST_CASE("self-KD rejects bad input with an error naming the thing", "[self_kd][errors]") {
  Tensor labels = Tensor::from_vector<int32_t>({0, 1}, {2});
  nn::ModelOutput exit{Tensor::zeros({2, 8}), Tensor::zeros({2, 3})};
  nn::ModelOutput deepest{Tensor::zeros({2, 8}), Tensor::zeros({2, 3})};
  distill::SelfKdLossConfig config;

  nn::ModelOutput wide_logits{Tensor::zeros({2, 8}), Tensor::zeros({2, 4})};
  CHECK_THROWS_AS(distill::shallow_exit_loss(wide_logits, deepest, labels, config), ShapeError);
  CHECK_THROWS_WITH(distill::shallow_exit_loss(wide_logits, deepest, labels, config),
                    Contains("shallow_exit_loss") && Contains("exit.logits") && Contains("[2, 4]") &&
                        Contains("deepest.logits") && Contains("[2, 3]"));
  nn::ModelOutput wide_features{Tensor::zeros({2, 16}), Tensor::zeros({2, 3})};
  CHECK_THROWS_WITH(distill::shallow_exit_loss(wide_features, deepest, labels, config),
                    Contains("exit.features") && Contains("[2, 16]") && Contains("[2, 8]"));
  CHECK_THROWS_WITH(distill::shallow_exit_loss(exit, deepest, Tensor::from_vector<int32_t>({0, 1, 2}, {3}), config),
                    Contains("labels") && Contains("[3]"));
  CHECK_THROWS_WITH(distill::shallow_exit_loss(exit, deepest, labels, {1.5, 3.0, 0.03}), Contains("alpha"));
  CHECK_THROWS_WITH(distill::shallow_exit_loss(exit, deepest, labels, {0.3, 0.0, 0.03}), Contains("temperature"));
  CHECK_THROWS_WITH(distill::shallow_exit_loss(exit, deepest, labels, {0.3, 3.0, -1.0}), Contains("feature_weight"));
  CHECK_THROWS_WITH(distill::self_kd_loss({}, labels, config), Contains("self_kd_loss") && Contains("at least one"));
  CHECK_THROWS_WITH(distill::self_kd_loss({wide_logits, deepest}, labels, config), Contains("exit.logits"));

  CHECK_THROWS_AS(nn::make_multi_exit_model("vgg11", 3, 10), ValueError);
  CHECK_THROWS_WITH(nn::make_multi_exit_model("resnet19", 3, 10), Contains("make_multi_exit_model") &&
                                                                      Contains("\"resnet19\"") &&
                                                                      Contains("resnet20") && Contains("resnet110"));
  CHECK_THROWS_WITH(nn::MultiExitResNet(nn::ResNet::Block::basic, {1, 1}, {16, 32, 64}, 3, 10),
                    Contains("MultiExitResNet") && Contains("2 counts for 3 stages"));
}
