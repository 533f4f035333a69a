#pragma once
// Multi-exit ResNet for self-distillation ("Be Your Own Teacher", Zhang et
// al., ICCV 2019). The backbone is nn::ResNet's, with its names (conv1, bn1,
// layer1.., linear), so the deepest exit loads a plain ResNet checkpoint and
// vice versa. After every stage but the last sits a shallow exit `exits.<i>`:
//   bottleneck: (3x3 conv stride 2, BN, ReLU) once per later stage, widening
//               to that stage's channels, so it ends at the last stage's
//               channels and resolution
//   global average pool -> features [N, feature_dim] (the deepest exit's width)
//   linear              -> logits [N, num_classes]
// Every exit's features thus live in one space, which BYOT's feature hint
// (distill/self_kd.h) compares directly.
#include <memory>
#include <string>
#include <vector>

#include "nn/models.h"

namespace engram::nn {

class ExitBranch : public Module {
 public:
  // channels: the stage's output channels, then each later stage's.
  ExitBranch(const std::vector<int64_t>& channels, int64_t num_classes);
  ModelOutput forward(const Tensor& x);
  std::shared_ptr<Sequential> bottleneck;  // conv, BN, ReLU at 3k, 3k+1, 3k+2, as torch.nn.Sequential
  std::shared_ptr<Linear> linear;

 private:
  std::vector<std::pair<std::shared_ptr<Conv2d>, std::shared_ptr<BatchNorm2d>>> conv_bn_;
};

// Children "0", "1", ... as torch.nn.ModuleList.
class ExitList : public Module {
 public:
  void append(std::shared_ptr<ExitBranch> exit);
  ExitBranch& operator[](size_t i) const { return *exits_.at(i); }
  size_t size() const { return exits_.size(); }

 private:
  std::vector<std::shared_ptr<ExitBranch>> exits_;
};

class MultiExitResNet : public Module {
 public:
  MultiExitResNet(ResNet::Block block, std::vector<int64_t> blocks_per_stage, std::vector<int64_t> stage_planes,
                  int64_t in_channels, int64_t num_classes);
  // One output per exit, shallowest first; the last is exactly ResNet::forward's.
  std::vector<ModelOutput> forward(const Tensor& x);
  std::vector<ModelOutput> operator()(const Tensor& x) { return forward(x); }

  int64_t num_exits() const { return static_cast<int64_t>(layers.size()); }
  int64_t feature_dim() const { return feature_dim_; }
  int64_t num_classes() const { return num_classes_; }
  // A partition of parameters(): the shallow exits (`exits.*`), and the
  // backbone with the deepest classifier (everything else, in state-dict order).
  std::vector<Tensor> shallow_exit_parameters() const;
  std::vector<Tensor> backbone_parameters() const;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::vector<std::shared_ptr<Sequential>> layers;  // layer1, layer2, ...
  std::shared_ptr<Linear> linear;
  std::shared_ptr<ExitList> exits;  // num_exits() - 1 shallow exits

 private:
  int64_t feature_dim_ = 0;
  int64_t num_classes_ = 0;
};

// By ResNet name of the zoo: resnet18, resnet34, resnet50, resnet8, resnet14, resnet20, resnet32,
// resnet56, resnet110. Any other name is a ValueError listing these.
std::shared_ptr<MultiExitResNet> make_multi_exit_model(const std::string& name, int64_t in_channels,
                                                       int64_t num_classes);

}  // namespace engram::nn
