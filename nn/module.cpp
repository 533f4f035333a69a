#include "nn/module.h"

#include <functional>
#include <map>
#include <set>

namespace engram::nn {

void Module::register_parameter(const std::string& name, Tensor* slot) {
  if (slot->defined() && !slot->requires_grad()) slot->requires_grad_();
  params_.emplace_back(name, slot);
}

void Module::register_buffer(const std::string& name, Tensor* slot) { buffers_.emplace_back(name, slot); }

void Module::extra_state(NamedTensors&, const std::string&) const {}
bool Module::load_extra_state(const std::string&, const Tensor&) { return false; }

void Module::collect(NamedTensors& out, const std::string& prefix, bool params, bool buffers, bool extra) const {
  if (params)
    for (const auto& [name, slot] : params_)
      if (slot->defined()) out.emplace_back(prefix + name, *slot);
  if (buffers)
    for (const auto& [name, slot] : buffers_)
      if (slot->defined()) out.emplace_back(prefix + name, *slot);
  if (extra) extra_state(out, prefix);
  for (const auto& [name, child] : children_) child->collect(out, prefix + name + ".", params, buffers, extra);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect(out, "", true, false, false);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect(out, "", false, true, false);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect(out, "", true, true, true);
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  std::set<std::string> used;
  std::vector<std::string> missing;
  std::function<void(Module&, const std::string&)> walk = [&](Module& m, const std::string& prefix) {
    auto load_slots = [&](std::vector<std::pair<std::string, Tensor*>>& slots) {
      for (auto& [name, slot] : slots) {
        if (!slot->defined()) continue;
        auto found = by_name.find(prefix + name);
        if (found == by_name.end()) {
          missing.push_back(prefix + name);
          continue;
        }
        const Tensor& value = found->second;
        ENGRAM_CHECK(value.shape() == slot->shape(), ShapeError, "load_state_dict",
                     prefix + name + ": checkpoint has shape " + shape_str(value.shape()) + ", the model expects " +
                         shape_str(slot->shape()));
        ENGRAM_CHECK(value.dtype() == slot->dtype(), DTypeError, "load_state_dict",
                     prefix + name + ": checkpoint has dtype " + dtype_name(value.dtype()) + ", the model expects " +
                         dtype_name(slot->dtype()));
        slot->copy_(value);
        used.insert(prefix + name);
      }
    };
    load_slots(m.params_);
    load_slots(m.buffers_);
    for (auto& [name, value] : by_name)
      if (name.rfind(prefix, 0) == 0 && name.find('.', prefix.size()) == std::string::npos &&
          m.load_extra_state(name.substr(prefix.size()), value))
        used.insert(name);
    for (auto& [name, child] : m.children_) walk(*child, prefix + name + ".");
  };
  walk(*this, "");
  if (!strict) return;
  std::string unexpected;
  for (auto& [name, value] : by_name)
    if (!used.count(name)) unexpected += (unexpected.empty() ? "" : ", ") + name;
  std::string absent;
  for (auto& name : missing) absent += (absent.empty() ? "" : ", ") + name;
  ENGRAM_CHECK(absent.empty() && unexpected.empty(), ValueError, "load_state_dict",
               (absent.empty() ? "" : "missing entries: " + absent + ". ") +
                   (unexpected.empty() ? "" : "unexpected entries: " + unexpected + "."));
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::replace_tensors(const std::function<bool(const Tensor&)>& needs,
                             const std::function<Tensor(const Tensor&)>& convert) {
  for (auto& [name, slot] : params_)
    if (slot->defined() && needs(*slot)) *slot = convert(slot->detach()).requires_grad_();
  for (auto& [name, slot] : buffers_)
    if (slot->defined() && needs(*slot)) *slot = convert(*slot);
  for (auto& [name, child] : children_) child->replace_tensors(needs, convert);
}

void Module::to(Device device) {
  replace_tensors([&](const Tensor& t) { return t.device() != device; },
                  [&](const Tensor& t) { return t.to(device); });
  std::function<void(Module&)> set_device = [&](Module& m) {
    m.device_ = device;
    for (auto& [name, child] : m.children_) set_device(*child);
  };
  set_device(*this);
}

void Module::to(DType dtype) {
  ENGRAM_CHECK(is_floating(dtype), DTypeError, "Module::to",
               std::string("a module's tensors can be cast to f32 or f64, not ") + dtype_name(dtype));
  replace_tensors([&](const Tensor& t) { return is_floating(t.dtype()) && t.dtype() != dtype; },
                  [&](const Tensor& t) { return t.to(dtype); });
}

void Module::share_parameters_of(const Module& owner) {
  ENGRAM_CHECK(params_.size() == owner.params_.size() && children_.size() == owner.children_.size(), ShapeError,
               "share_parameters_of", "the two modules differ in structure");
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& theirs = *owner.params_[i].second;
    Tensor& mine = *params_[i].second;
    ENGRAM_CHECK(mine.defined() == theirs.defined(), ShapeError, "share_parameters_of",
                 "parameter " + params_[i].first + " is defined on one side only");
    if (!mine.defined()) continue;  // an absent bias
    ENGRAM_CHECK(params_[i].first == owner.params_[i].first && mine.shape() == theirs.shape() &&
                     mine.dtype() == theirs.dtype() && mine.device() == theirs.device(),
                 ShapeError, "share_parameters_of",
                 "parameter " + params_[i].first + " " + shape_str(mine.shape()) + " cannot share " +
                     owner.params_[i].first + " " + shape_str(theirs.shape()));
    mine = theirs;
  }
  for (size_t i = 0; i < children_.size(); ++i) children_[i].second->share_parameters_of(*owner.children_[i].second);
}

void Module::zero_grad() {
  for (auto& [name, slot] : params_)
    if (slot->defined()) slot->zero_grad();
  for (auto& [name, child] : children_) child->zero_grad();
}

}  // namespace engram::nn
