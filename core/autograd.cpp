#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/cuda_runtime.h"
#include "core/finite.h"

namespace engram::autograd {

namespace {

thread_local bool grad_mode = true;
thread_local bool anomaly_mode = false;
// Inside backward(), the ops of backward functions are not checked one by
// one: the node's gradients are, naming the node.
thread_local bool in_backward = false;

// dst += src, in place; dst is owned by the caller (never aliased).
void accumulate_into(Tensor& dst, const Tensor& src) {
  size_t n = static_cast<size_t>(dst.numel());
  if (dst.device().is_cpu()) {
    ENGRAM_DISPATCH_FLOATING(dst.dtype(), "autograd accumulate", [&] {
      scalar_t* d = dst.data<scalar_t>();
      const scalar_t* s = src.data<scalar_t>();
      for (size_t i = 0; i < n; ++i) d[i] += s[i];
    });
  } else {
#if ENGRAM_HAS_CUDA
    cuda::accumulate(dst.raw_data(), src.raw_data(), dst.dtype(), n);
#endif
  }
}

void check_gradient(const Node& node, size_t i, const Tensor& input, const Tensor& grad) {
  ENGRAM_CHECK(grad.shape() == input.shape() && grad.dtype() == input.dtype() &&
                   grad.device() == input.device(),
               AutogradError, "backward of '" + node.op + "'",
               "gradient " + std::to_string(i) + " has shape " + shape_str(grad.shape()) + " " +
                   dtype_name(grad.dtype()) + " on " + grad.device().str() + ", expected " +
                   shape_str(input.shape()) + " " + dtype_name(input.dtype()) + " on " + input.device().str());
}

// "detect_anomaly: the output of 'log' [16, 10] holds NaN or Inf".
void check_anomaly(const std::string& what, const Tensor& t) {
  ENGRAM_CHECK(all_finite(t), NumericalError, "detect_anomaly",
               what + " " + shape_str(t.shape()) + " holds NaN or Inf");
}

}  // namespace

bool anomaly_detection() { return anomaly_mode; }
void set_anomaly_detection(bool on) { anomaly_mode = on; }

bool grad_enabled() { return grad_mode; }
void set_grad_enabled(bool enabled) { grad_mode = enabled; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(std::initializer_list<Tensor> inputs) { return needs_grad(std::vector<Tensor>(inputs)); }

Tensor record(const char* op, Tensor output, std::vector<Tensor> inputs, BackwardFn backward) {
  if (anomaly_mode && !in_backward) check_anomaly(std::string("the output of '") + op + "'", output);
  if (!needs_grad(inputs)) return output;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.set_grad_fn(std::move(node));
  return output;
}

void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  check_defined("backward", "the tensor", root);
  ENGRAM_CHECK(root.requires_grad(), AutogradError, "backward",
               "the tensor does not require grad and has no grad_fn");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    ENGRAM_CHECK(root.numel() == 1, AutogradError, "backward",
                 "a gradient argument is required for a non-scalar tensor of shape " + shape_str(root.shape()));
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  ENGRAM_CHECK(seed.shape() == root.shape(), ShapeError, "backward",
               "gradient shape " + shape_str(seed.shape()) + " differs from tensor shape " + shape_str(root.shape()));

  NoGradGuard no_grad;
  struct InBackward {
    bool previous = in_backward;
    InBackward() { in_backward = true; }
    ~InBackward() { in_backward = previous; }
  } in_backward_scope;
  auto accumulate_leaf = [](const Tensor& leaf, const Tensor& g) {
    Tensor current = leaf.grad();
    if (!current.defined()) {
      leaf.set_grad(g.clone());  // the incoming gradient may alias another tensor
    } else {
      accumulate_into(current, g);
    }
  };
  if (root.is_leaf()) {
    accumulate_leaf(root, seed);
    return;
  }

  // Reverse topological order by iterative DFS post-order from the root.
  std::vector<Node*> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  visited.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& input = node->inputs[next++];
      Node* child = input.defined() && !input.is_leaf() ? input.grad_fn().get() : nullptr;
      if (child && visited.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  std::unordered_map<Node*, Tensor> pending{{root.grad_fn().get(), seed}};
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    ENGRAM_CHECK(static_cast<bool>(node->backward), AutogradError, "backward",
                 "the graph through '" + node->op +
                     "' was already freed by an earlier backward(); pass retain_graph=true to call it twice");
    auto found = pending.find(node);
    if (found == pending.end()) continue;  // no gradient flows into this node
    Tensor grad = std::move(found->second);
    pending.erase(found);
    std::vector<Tensor> input_grads = node->backward(grad);
    ENGRAM_CHECK(input_grads.size() == node->inputs.size(), AutogradError, "backward of '" + node->op + "'",
                 "returned " + std::to_string(input_grads.size()) + " gradients for " +
                     std::to_string(node->inputs.size()) + " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& input = node->inputs[i];
      const Tensor& g = input_grads[i];
      if (!g.defined() || !input.defined() || !input.requires_grad()) continue;
      check_gradient(*node, i, input, g);
      if (anomaly_mode)
        check_anomaly("backward of '" + node->op + "', from a finite output gradient: the gradient of its input " +
                          std::to_string(i),
                      g);
      if (input.is_leaf()) {
        accumulate_leaf(input, g);
      } else {
        Node* child = input.grad_fn().get();
        auto slot = pending.find(child);
        if (slot == pending.end()) {
          pending.emplace(child, g);
        } else {
          Tensor sum = slot->second.clone();  // never write into a gradient another node may hold
          accumulate_into(sum, g);
          slot->second = sum;
        }
      }
    }
    if (!retain_graph) node->backward = nullptr;
  }
}

}  // namespace engram::autograd
