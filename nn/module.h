#pragma once
// Module: named parameters, buffers and children with PyTorch's dotted names
// (`layer1.0.conv1.weight`, `bn1.running_mean`), train/eval mode and device
// moves. A module registers the addresses of its own Tensor members, so that
// `to(device)` and checkpoint loading replace the tensors the layer computes
// with; modules are therefore neither copyable nor movable.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/named_tensors.h"
#include "core/tensor.h"

namespace engram::nn {

using engram::NamedTensors;  // so nn::NamedTensors still names it

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters then buffers of each module, depth first in registration order
  // (the order PyTorch's state_dict() lists them).
  NamedTensors state_dict() const;
  // Copies values from `state` into this module's tensors (any device; dtype
  // and shape must match). Throws ValueError naming missing or unexpected
  // entries when `strict`.
  void load_state_dict(const NamedTensors& state, bool strict = true);

  int64_t parameter_count() const;
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter and buffer (parameters stay leaves requiring grad).
  void to(Device device);
  // Casts every floating-point parameter and buffer to `dtype`, f32 or f64
  // (parameters stay leaves requiring grad): an f64 copy of a model is what
  // the sharpness tool differentiates (train/sharpness.h).
  void to(DType dtype);
  Device device() const { return device_; }
  void zero_grad();
  // Makes every parameter of this module the very tensor of `owner`'s (the
  // same storage: the owner's updates are this module's), keeping this
  // module's own buffers. The two must have the same structure (ShapeError
  // naming the first parameter that differs otherwise). A shared teacher's
  // followers are built this way (distill/kd_strategy.h).
  void share_parameters_of(const Module& owner);

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  void register_parameter(const std::string& name, Tensor* slot);
  void register_buffer(const std::string& name, Tensor* slot);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    children_.emplace_back(name, child);
    return child;
  }
  // Called by load_state_dict for entries a subclass keeps off-tensor (e.g.
  // BatchNorm's num_batches_tracked); returns true when it consumed `value`.
  virtual void extra_state(NamedTensors& out, const std::string& prefix) const;
  virtual bool load_extra_state(const std::string& name, const Tensor& value);

 private:
  void collect(NamedTensors& out, const std::string& prefix, bool params, bool buffers, bool extra) const;
  // Replaces, in this module and its children, every defined parameter and
  // buffer for which `needs` holds by `convert` of it.
  void replace_tensors(const std::function<bool(const Tensor&)>& needs,
                       const std::function<Tensor(const Tensor&)>& convert);
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  Device device_ = Device::cpu();
};

}  // namespace engram::nn
