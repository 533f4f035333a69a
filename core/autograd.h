#pragma once
// Minimal reverse-mode autograd: a tape of Nodes, one per differentiable op.
//
// An op that has an input requiring grad (and grad mode on) attaches a Node to
// its output. The node holds the op's inputs (the graph's edges) and a
// backward function mapping the output's gradient to one gradient per input
// (an undefined Tensor where an input needs none). `backward()` visits nodes
// in reverse topological order; gradients of leaves accumulate (+=) into
// `leaf.grad()`, gradients of intermediate tensors are summed per node and
// dropped once used.
//
// Ownership rule: a backward function must capture tensors it saves with
// `detach()` if they may be the op's own output, otherwise output -> node ->
// closure -> output is a reference cycle and the graph leaks.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace engram {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string op;               // the op's name, for error messages and debugging
  std::vector<Tensor> inputs;   // edges to the inputs (leaves or other nodes' outputs)
  BackwardFn backward;          // empty once the graph has been freed
};

namespace autograd {

bool grad_enabled();
void set_grad_enabled(bool enabled);

// True when grad mode is on and any of the tensors requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `output` when needs_grad(inputs); returns output.
// Every differentiable op ends with this call.
Tensor record(const char* op, Tensor output, std::vector<Tensor> inputs, BackwardFn backward);

// Runs the backward pass from `root` (see Tensor::backward).
void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph);

// Anomaly detection, for debugging (PyTorch's detect_anomaly): while on,
// every output that record() sees outside backward() and every gradient
// that a node's backward function returns is checked for NaN and Inf as soon
// as it is made, waiting for the device each time. The first found throws
// NumericalError naming the op.
bool anomaly_detection();
void set_anomaly_detection(bool on);

}  // namespace autograd

// Anomaly detection on in its scope, and as before afterwards.
class AnomalyDetectionGuard {
 public:
  explicit AnomalyDetectionGuard(bool on = true) : previous_(autograd::anomaly_detection()) {
    autograd::set_anomaly_detection(on);
  }
  ~AnomalyDetectionGuard() { autograd::set_anomaly_detection(previous_); }
  AnomalyDetectionGuard(const AnomalyDetectionGuard&) = delete;
  AnomalyDetectionGuard& operator=(const AnomalyDetectionGuard&) = delete;

 private:
  bool previous_;
};

// Disables graph recording in its scope (PyTorch's torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(autograd::grad_enabled()) { autograd::set_grad_enabled(false); }
  ~NoGradGuard() { autograd::set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace engram
