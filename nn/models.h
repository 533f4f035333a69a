#pragma once
// The model zoo. Every model takes images [N, C, H, W] with any channel count
// and returns the pooled features [N, feature_dim] (what knowledge
// distillation's feature losses compare) and the logits [N, num_classes].
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/blocks.h"

namespace engram::nn {

struct ModelOutput {
  Tensor features;
  Tensor logits;
};

class Classifier : public Module {
 public:
  virtual ModelOutput forward(const Tensor& x) = 0;
  ModelOutput operator()(const Tensor& x) { return forward(x); }
  int64_t feature_dim() const { return feature_dim_; }
  int64_t num_classes() const { return num_classes_; }

 protected:
  int64_t feature_dim_ = 0;
  int64_t num_classes_ = 0;
};

// CIFAR-style ResNet (3x3 stem, no max-pool): ResNet-18/34 (BasicBlock) and
// ResNet-50 (Bottleneck) with stages 64-128-256-512, and He et al.'s
// ResNet-20/32/56/110 with stages 16-32-64.
class ResNet : public Classifier {
 public:
  enum class Block { basic, bottleneck };
  ResNet(Block block, std::vector<int64_t> blocks_per_stage, std::vector<int64_t> stage_planes, int64_t in_channels,
         int64_t num_classes);
  ModelOutput forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::vector<std::shared_ptr<Sequential>> layers;  // layer1, layer2, ...
  std::shared_ptr<Linear> linear;
};

// One ResNet stage (`layerN`): `blocks` blocks of width `planes`, the first
// carrying `stride`. Advances in_planes to the stage's output channels.
std::shared_ptr<Sequential> make_resnet_stage(ResNet::Block block, int64_t& in_planes, int64_t planes, int64_t blocks,
                                              int64_t stride);

// The zoo's ResNet tables, shared by make_model and make_multi_exit_model.
struct ResNetConfig {
  ResNet::Block block;
  std::vector<int64_t> blocks_per_stage;
  std::vector<int64_t> stage_planes;
};
// resnet18/34/50 and resnet8/14/20/32/56/110; nullopt for any other name.
std::optional<ResNetConfig> resnet_config(const std::string& name);
std::vector<std::string> resnet_names();

// Wide ResNet-d-k: conv1, block1..3, bn1, fc.
class WideResNet : public Classifier {
 public:
  WideResNet(int64_t depth, int64_t widen, double dropout, int64_t in_channels, int64_t num_classes);
  ModelOutput forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1;
  std::vector<std::shared_ptr<WideStage>> blocks;  // block1..3
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Linear> fc;
};

// VGG with batch norm: features (conv-BN-ReLU and max-pools) then classifier.
// The last max-pool is a global average pool so that 28x28 inputs work too.
class VGG : public Classifier {
 public:
  VGG(const std::vector<int64_t>& config, int64_t in_channels, int64_t num_classes);  // -1 = max-pool
  ModelOutput forward(const Tensor& x) override;
  std::shared_ptr<Sequential> features;
  std::shared_ptr<Linear> classifier;
};

// MobileNetV2 for small images (stride 1 in the stem and the first 24-channel stage).
class MobileNetV2 : public Classifier {
 public:
  MobileNetV2(int64_t in_channels, int64_t num_classes);
  ModelOutput forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> layers;
  std::shared_ptr<Linear> linear;
};

// By name: resnet18, resnet34, resnet50, resnet8, resnet14, resnet20,
// resnet32, resnet56, resnet110, wrn16_2, wrn40_2, vgg11, vgg13, vgg16, mobilenetv2.
std::shared_ptr<Classifier> make_model(const std::string& name, int64_t in_channels, int64_t num_classes);
std::vector<std::string> model_names();

}  // namespace engram::nn
