#include "nn/multi_exit.h"

#include "kernels/pool.h"

namespace engram::nn {

ExitBranch::ExitBranch(const std::vector<int64_t>& channels, int64_t num_classes) {
  // BN follows each conv, so the convs carry no bias (as in the backbone).
  bottleneck = register_module("bottleneck", std::make_shared<Sequential>());
  for (size_t i = 0; i + 1 < channels.size(); ++i) {
    auto conv = std::make_shared<Conv2d>(channels[i], channels[i + 1], 3, 2, 1, 1, 1, false);
    auto bn = std::make_shared<BatchNorm2d>(channels[i + 1]);
    bottleneck->append(conv);
    bottleneck->append(bn);
    bottleneck->append(std::make_shared<ReLU>());
    conv_bn_.emplace_back(conv, bn);
  }
  linear = register_module("linear", std::make_shared<Linear>(channels.back(), num_classes));
}

ModelOutput ExitBranch::forward(const Tensor& x) {
  // BN and ReLU run as one fused op; the Sequential only carries the names.
  Tensor h = x;
  for (auto& [conv, bn] : conv_bn_) h = bn->forward_relu(conv->forward(h));
  Tensor features = global_avg_pool2d(h);
  return {features, linear->forward(features)};
}

void ExitList::append(std::shared_ptr<ExitBranch> exit) {
  exits_.push_back(register_module(std::to_string(exits_.size()), std::move(exit)));
}

MultiExitResNet::MultiExitResNet(ResNet::Block block, std::vector<int64_t> blocks_per_stage,
                                 std::vector<int64_t> stage_planes, int64_t in_channels, int64_t num_classes) {
  ENGRAM_CHECK(!stage_planes.empty() && blocks_per_stage.size() == stage_planes.size(), ValueError, "MultiExitResNet",
               "needs one block count per stage, got " + std::to_string(blocks_per_stage.size()) + " counts for " +
                   std::to_string(stage_planes.size()) + " stages");
  // The backbone is built exactly as ResNet's, so that names and the order of
  // random initialisation match it.
  int64_t in_planes = stage_planes[0];
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, in_planes, 3, 1, 1, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  std::vector<int64_t> stage_channels;
  for (size_t stage = 0; stage < stage_planes.size(); ++stage) {
    layers.push_back(register_module(
        "layer" + std::to_string(stage + 1),
        make_resnet_stage(block, in_planes, stage_planes[stage], blocks_per_stage[stage], stage > 0 ? 2 : 1)));
    stage_channels.push_back(in_planes);
  }
  linear = register_module("linear", std::make_shared<Linear>(in_planes, num_classes));
  exits = register_module("exits", std::make_shared<ExitList>());
  for (size_t stage = 0; stage + 1 < stage_channels.size(); ++stage)
    exits->append(std::make_shared<ExitBranch>(
        std::vector<int64_t>(stage_channels.begin() + static_cast<std::ptrdiff_t>(stage), stage_channels.end()),
        num_classes));
  feature_dim_ = in_planes;
  num_classes_ = num_classes;
}

std::vector<ModelOutput> MultiExitResNet::forward(const Tensor& x) {
  std::vector<ModelOutput> outputs;
  Tensor h = bn1->forward_relu(conv1->forward(x));
  for (size_t stage = 0; stage < layers.size(); ++stage) {
    h = layers[stage]->forward(h);
    if (stage + 1 < layers.size()) outputs.push_back((*exits)[stage].forward(h));
  }
  Tensor features = global_avg_pool2d(h);
  outputs.push_back({features, linear->forward(features)});
  return outputs;
}

std::vector<Tensor> MultiExitResNet::shallow_exit_parameters() const { return exits->parameters(); }

std::vector<Tensor> MultiExitResNet::backbone_parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters())
    if (name.rfind("exits.", 0) != 0) out.push_back(t);
  return out;
}

std::shared_ptr<MultiExitResNet> make_multi_exit_model(const std::string& name, int64_t in_channels,
                                                       int64_t num_classes) {
  auto config = resnet_config(name);
  if (!config) {
    std::string known;
    for (const auto& n : resnet_names()) known += (known.empty() ? "" : ", ") + n;
    throw ValueError("make_multi_exit_model: unknown model \"" + name + "\", expected one of " + known +
                     " (the multi-exit model is built on the zoo's ResNets)");
  }
  return std::make_shared<MultiExitResNet>(config->block, config->blocks_per_stage, config->stage_planes, in_channels,
                                           num_classes);
}

}  // namespace engram::nn
