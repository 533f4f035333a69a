#include "nn/models.h"

#include <map>

#include "kernels/elementwise.h"
#include "kernels/pool.h"

namespace engram::nn {

std::shared_ptr<Sequential> make_resnet_stage(ResNet::Block block, int64_t& in_planes, int64_t planes, int64_t blocks,
                                              int64_t stride) {
  auto layer = std::make_shared<Sequential>();
  for (int64_t i = 0; i < blocks; ++i) {
    int64_t s = i == 0 ? stride : 1;
    if (block == ResNet::Block::basic)
      layer->append(std::make_shared<BasicBlock>(in_planes, planes, s));
    else
      layer->append(std::make_shared<Bottleneck>(in_planes, planes, s));
    in_planes = planes * (block == ResNet::Block::basic ? BasicBlock::expansion : Bottleneck::expansion);
  }
  return layer;
}

ResNet::ResNet(Block block, std::vector<int64_t> blocks_per_stage, std::vector<int64_t> stage_planes,
               int64_t in_channels, int64_t num_classes) {
  int64_t in_planes = stage_planes[0];
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, in_planes, 3, 1, 1, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  for (size_t stage = 0; stage < stage_planes.size(); ++stage)
    layers.push_back(register_module(
        "layer" + std::to_string(stage + 1),
        make_resnet_stage(block, in_planes, stage_planes[stage], blocks_per_stage[stage], stage > 0 ? 2 : 1)));
  linear = register_module("linear", std::make_shared<Linear>(in_planes, num_classes));
  feature_dim_ = in_planes;
  num_classes_ = num_classes;
}

ModelOutput ResNet::forward(const Tensor& x) {
  Tensor h = bn1->forward_relu(conv1->forward(x));
  for (auto& layer : layers) h = layer->forward(h);
  Tensor features = global_avg_pool2d(h);
  return {features, linear->forward(features)};
}

WideResNet::WideResNet(int64_t depth, int64_t widen, double dropout, int64_t in_channels, int64_t num_classes) {
  ENGRAM_CHECK((depth - 4) % 6 == 0 && depth >= 10, ValueError, "WideResNet",
               "depth must be 6n + 4 (10, 16, 22, 28, 40, ...), got " + std::to_string(depth));
  int64_t n = (depth - 4) / 6;
  std::vector<int64_t> widths = {16, 16 * widen, 32 * widen, 64 * widen};
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, widths[0], 3, 1, 1, 1, 1, false));
  for (int stage = 0; stage < 3; ++stage)
    blocks.push_back(
        register_module("block" + std::to_string(stage + 1),
                        std::make_shared<WideStage>(widths[stage], widths[stage + 1], n, stage == 0 ? 1 : 2, dropout)));
  int64_t in_planes = widths[3];
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  fc = register_module("fc", std::make_shared<Linear>(in_planes, num_classes));
  feature_dim_ = in_planes;
  num_classes_ = num_classes;
}

ModelOutput WideResNet::forward(const Tensor& x) {
  Tensor h = conv1->forward(x);
  for (auto& group : blocks) h = group->forward(h);
  Tensor features = global_avg_pool2d(bn1->forward_relu(h));
  return {features, fc->forward(features)};
}

namespace {

// A conv-BN-ReLU triple as one layer, so that `features.N` indices match
// torch.nn.Sequential's (conv at N, BN at N+1, ReLU at N+2).
void append_conv_bn_relu(Sequential& seq, int64_t in, int64_t out) {
  seq.append(std::make_shared<Conv2d>(in, out, 3, 1, 1));
  seq.append(std::make_shared<BatchNorm2d>(out));
  seq.append(std::make_shared<ReLU>());
}

}  // namespace

VGG::VGG(const std::vector<int64_t>& config, int64_t in_channels, int64_t num_classes) {
  features = register_module("features", std::make_shared<Sequential>());
  int64_t in = in_channels;
  size_t pools_seen = 0, pools_total = 0;
  for (int64_t c : config) pools_total += c < 0;
  for (int64_t c : config) {
    if (c >= 0) {
      append_conv_bn_relu(*features, in, c);
      in = c;
    } else if (++pools_seen < pools_total) {
      features->append(std::make_shared<MaxPool2d>(2, 2));
    } else {
      features->append(std::make_shared<AdaptiveAvgPool2d>(1, 1));
    }
  }
  classifier = register_module("classifier", std::make_shared<Linear>(in, num_classes));
  feature_dim_ = in;
  num_classes_ = num_classes;
}

ModelOutput VGG::forward(const Tensor& x) {
  Tensor h = features->forward(x);
  Tensor pooled = h.reshape({h.size(0), h.size(1)});
  return {pooled, classifier->forward(pooled)};
}

MobileNetV2::MobileNetV2(int64_t in_channels, int64_t num_classes) {
  // (expansion, out_planes, blocks, stride), the CIFAR variant.
  const int64_t config[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 1},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, 32, 3, 1, 1, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(32));
  layers = register_module("layers", std::make_shared<Sequential>());
  int64_t in = 32;
  for (const auto& [expansion, out, count, stride] : config) {
    for (int64_t i = 0; i < count; ++i) {
      layers->append(std::make_shared<InvertedResidual>(in, out, expansion, i == 0 ? stride : 1));
      in = out;
    }
  }
  conv2 = register_module("conv2", std::make_shared<Conv2d>(320, 1280, 1, 1, 0, 1, 1, false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(1280));
  linear = register_module("linear", std::make_shared<Linear>(1280, num_classes));
  feature_dim_ = 1280;
  num_classes_ = num_classes;
}

ModelOutput MobileNetV2::forward(const Tensor& x) {
  Tensor h = bn1->forward_relu(conv1->forward(x));
  h = layers->forward(h);
  h = bn2->forward_relu(conv2->forward(h));
  Tensor features = global_avg_pool2d(h);
  return {features, linear->forward(features)};
}

std::vector<std::string> model_names() {
  std::vector<std::string> names = resnet_names();
  names.insert(names.end(), {"wrn16_2", "wrn40_2", "vgg11", "vgg13", "vgg16", "mobilenetv2"});
  return names;
}

std::vector<std::string> resnet_names() {
  return {"resnet18", "resnet34", "resnet50", "resnet8", "resnet14", "resnet20", "resnet32", "resnet56", "resnet110"};
}

std::optional<ResNetConfig> resnet_config(const std::string& name) {
  using B = ResNet::Block;
  const std::vector<int64_t> wide = {64, 128, 256, 512}, thin = {16, 32, 64};
  if (name == "resnet18") return ResNetConfig{B::basic, {2, 2, 2, 2}, wide};
  if (name == "resnet34") return ResNetConfig{B::basic, {3, 4, 6, 3}, wide};
  if (name == "resnet50") return ResNetConfig{B::bottleneck, {3, 4, 6, 3}, wide};
  // He et al.'s 6n + 2 family; 8 and 14 are the small members the CPU budgets use.
  const std::map<std::string, int64_t> cifar_depths = {{"resnet8", 8},   {"resnet14", 14}, {"resnet20", 20},
                                                       {"resnet32", 32}, {"resnet56", 56}, {"resnet110", 110}};
  if (auto it = cifar_depths.find(name); it != cifar_depths.end()) {
    int64_t n = (it->second - 2) / 6;
    return ResNetConfig{B::basic, {n, n, n}, thin};
  }
  return std::nullopt;
}

std::shared_ptr<Classifier> make_model(const std::string& name, int64_t in_channels, int64_t num_classes) {
  if (auto config = resnet_config(name))
    return std::make_shared<ResNet>(config->block, config->blocks_per_stage, config->stage_planes, in_channels,
                                    num_classes);
  if (name == "wrn16_2") return std::make_shared<WideResNet>(16, 2, 0.0, in_channels, num_classes);
  if (name == "wrn40_2") return std::make_shared<WideResNet>(40, 2, 0.0, in_channels, num_classes);
  const std::map<std::string, std::vector<int64_t>> vgg = {
      {"vgg11", {64, -1, 128, -1, 256, 256, -1, 512, 512, -1, 512, 512, -1}},
      {"vgg13", {64, 64, -1, 128, 128, -1, 256, 256, -1, 512, 512, -1, 512, 512, -1}},
      {"vgg16", {64, 64, -1, 128, 128, -1, 256, 256, 256, -1, 512, 512, 512, -1, 512, 512, 512, -1}}};
  if (auto it = vgg.find(name); it != vgg.end()) return std::make_shared<VGG>(it->second, in_channels, num_classes);
  if (name == "mobilenetv2") return std::make_shared<MobileNetV2>(in_channels, num_classes);
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw ValueError("make_model: unknown model \"" + name + "\", expected one of " + known);
}

}  // namespace engram::nn
