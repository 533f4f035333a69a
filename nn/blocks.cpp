#include "nn/blocks.h"

#include "kernels/elementwise.h"

namespace engram::nn {

std::shared_ptr<Sequential> projection_shortcut(int64_t in_planes, int64_t out_planes, int64_t stride) {
  return std::make_shared<Sequential>(
      std::vector<std::shared_ptr<Layer>>{std::make_shared<Conv2d>(in_planes, out_planes, 1, stride, 0, 1, 1, false),
                                          std::make_shared<BatchNorm2d>(out_planes)});
}

BasicBlock::BasicBlock(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_planes, planes, 3, stride, 1, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1, 1, 1, 1, false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  shortcut = register_module("shortcut", stride != 1 || in_planes != planes
                                             ? projection_shortcut(in_planes, planes, stride)
                                             : std::make_shared<Sequential>());
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));
  Tensor identity = shortcut->empty() ? x : shortcut->forward(x);
  return bn2->forward_add_relu(conv2->forward(out), identity);
}

Bottleneck::Bottleneck(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_planes, planes, 1, 1, 0, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, stride, 1, 1, 1, false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv3 = register_module("conv3", std::make_shared<Conv2d>(planes, planes * expansion, 1, 1, 0, 1, 1, false));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(planes * expansion));
  shortcut = register_module("shortcut", stride != 1 || in_planes != planes * expansion
                                             ? projection_shortcut(in_planes, planes * expansion, stride)
                                             : std::make_shared<Sequential>());
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));
  out = bn2->forward_relu(conv2->forward(out));
  Tensor identity = shortcut->empty() ? x : shortcut->forward(x);
  return bn3->forward_add_relu(conv3->forward(out), identity);
}

WideBasic::WideBasic(int64_t in_planes, int64_t out_planes, int64_t stride, double dropout)
    : equal_in_out_(in_planes == out_planes && stride == 1) {
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_planes, out_planes, 3, stride, 1, 1, 1, false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out_planes));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out_planes, out_planes, 3, 1, 1, 1, 1, false));
  if (!equal_in_out_)
    convShortcut =
        register_module("convShortcut", std::make_shared<Conv2d>(in_planes, out_planes, 1, stride, 0, 1, 1, false));
  if (dropout > 0) drop = register_module("drop", std::make_shared<Dropout>(dropout));
}

Tensor WideBasic::forward(const Tensor& x) {
  Tensor activated = bn1->forward_relu(x);
  Tensor out = bn2->forward_relu(conv1->forward(activated));
  if (drop) out = drop->forward(out);
  out = conv2->forward(out);
  // The projection sees the activated input, as in the reference implementation.
  return add(out, equal_in_out_ ? x : convShortcut->forward(activated));
}

WideStage::WideStage(int64_t in_planes, int64_t out_planes, int64_t count, int64_t stride, double dropout) {
  layer = register_module("layer", std::make_shared<Sequential>());
  for (int64_t i = 0; i < count; ++i)
    layer->append(std::make_shared<WideBasic>(i == 0 ? in_planes : out_planes, out_planes, i == 0 ? stride : 1, dropout));
}

InvertedResidual::InvertedResidual(int64_t in_planes, int64_t out_planes, int64_t expansion, int64_t stride)
    : stride_(stride) {
  int64_t hidden = in_planes * expansion;
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_planes, hidden, 1, 1, 0, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(hidden));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(hidden, hidden, 3, stride, 1, 1, hidden, false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(hidden));
  conv3 = register_module("conv3", std::make_shared<Conv2d>(hidden, out_planes, 1, 1, 0, 1, 1, false));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(out_planes));
  shortcut = register_module("shortcut", stride == 1 && in_planes != out_planes
                                             ? projection_shortcut(in_planes, out_planes, 1)
                                             : std::make_shared<Sequential>());
}

Tensor InvertedResidual::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));
  out = bn2->forward_relu(conv2->forward(out));
  out = bn3->forward(conv3->forward(out));
  if (stride_ != 1) return out;
  return add(out, shortcut->empty() ? x : shortcut->forward(x));
}

}  // namespace engram::nn
