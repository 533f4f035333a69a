#pragma once
// Residual building blocks. Names follow the widely used PyTorch CIFAR
// implementations, so that their checkpoints map one to one:
//   BasicBlock / Bottleneck: conv1, bn1, conv2, bn2[, conv3, bn3], shortcut.{0,1}
//   WideBasic (pre-activation): bn1, conv1, bn2, conv2, convShortcut
//   InvertedResidual (MobileNetV2): conv1, bn1, conv2 (depthwise), bn2, conv3, bn3, shortcut.{0,1}
#include <memory>

#include "nn/layers.h"

namespace engram::nn {

// Two 3x3 convs; a 1x1 conv + BN shortcut when the shape changes (option B).
class BasicBlock : public Layer {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride = 1);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> shortcut;  // empty: identity
};

// 1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4.
class Bottleneck : public Layer {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t in_planes, int64_t planes, int64_t stride = 1);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> shortcut;
};

// Wide ResNet block (Zagoruyko & Komodakis): BN-ReLU-conv twice, dropout between.
class WideBasic : public Layer {
 public:
  WideBasic(int64_t in_planes, int64_t out_planes, int64_t stride, double dropout);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Conv2d> convShortcut;  // null when the shape is unchanged
  std::shared_ptr<Dropout> drop;         // null when the rate is 0

 private:
  bool equal_in_out_;
};

// A Wide ResNet stage of `count` blocks; the reference names them blockN.layer.i.
class WideStage : public Layer {
 public:
  WideStage(int64_t in_planes, int64_t out_planes, int64_t count, int64_t stride, double dropout);
  Tensor forward(const Tensor& x) override { return layer->forward(x); }
  std::shared_ptr<Sequential> layer;
};

// MobileNetV2 block: expand 1x1, depthwise 3x3, linear 1x1 projection;
// residual when the stride is 1.
class InvertedResidual : public Layer {
 public:
  InvertedResidual(int64_t in_planes, int64_t out_planes, int64_t expansion, int64_t stride);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> shortcut;

 private:
  int64_t stride_;
};

// 1x1 conv (no bias) + BN, the projection shortcut.
std::shared_ptr<Sequential> projection_shortcut(int64_t in_planes, int64_t out_planes, int64_t stride);

}  // namespace engram::nn
