#pragma once
// Tensor: a handle (shared_ptr) to a TensorImpl. Copies of a Tensor share the
// same impl, so a gradient accumulated into a leaf is seen through every copy.
//
// Layout invariant: every tensor is contiguous and row-major; `offset` (in
// elements) lets reshapes and slices of the leading dimension share storage.
// Hence `reshape` never copies, and PyTorch's view/reshape coincide.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace engram {

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no storage); defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Factories. Memory from `empty` is uninitialised.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  // Uninitialised, with t's shape, dtype and device (contiguous).
  static Tensor empty_like(const Tensor& t);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(shape()); }
  Shape strides() const { return contiguous_strides(shape()); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }

  // Typed pointer to the first element; throws DTypeError if T does not match.
  template <typename T> T* data() const;
  void* raw_data() const;

  // Copies (always new storage, even to the same device or dtype).
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor clone() const;
  // Same storage, new shape; one dimension may be -1. Differentiable.
  Tensor reshape(const Shape& shape) const;
  // Rows [start, start+length) of dimension 0, sharing storage. Not differentiable.
  Tensor narrow_rows(int64_t start, int64_t length) const;
  // Same storage and shape, cut off from the autograd graph.
  Tensor detach() const;

  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // Copies src's values into this tensor (same shape, any device, same dtype).
  Tensor& copy_(const Tensor& src);

  // Element access for tests and printing; works on any device (copies to host).
  template <typename T> T item() const;
  template <typename T> T at(std::initializer_list<int64_t> index) const;
  template <typename T> std::vector<T> to_vector() const;
  std::string repr(int64_t max_elements = 64) const;

  // Autograd.
  bool requires_grad() const;
  Tensor& requires_grad_(bool value = true);  // only on leaves
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward pass reaches this leaf
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;  // drops the gradient (like PyTorch's set_to_none)
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node) const;
  // Backpropagates from this tensor. With no argument it must hold one element
  // and the seed gradient is 1. Frees the graph unless retain_graph is true.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;

  TensorImpl* impl() const { return impl_.get(); }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  void check_defined(const char* op) const;
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Argument checks shared by every op. Each throws the matching error type
// with a message that starts with `op`.
void check_defined(const char* op, const char* name, const Tensor& t);
void check_dim(const char* op, const char* name, const Tensor& t, int64_t dim, const char* layout);
void check_floating(const char* op, const char* name, const Tensor& t);
void check_dtype(const char* op, const char* name, const Tensor& t, DType dtype);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);

// ---- template definitions ----

template <typename T>
T* Tensor::data() const {
  check_defined("Tensor::data");
  ENGRAM_CHECK(dtype() == dtype_of<T>::value, DTypeError, "Tensor::data",
               std::string("tensor holds ") + dtype_name(dtype()) + ", requested " +
                   dtype_name(dtype_of<T>::value));
  return static_cast<T*>(raw_data());
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  ENGRAM_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), ShapeError, "Tensor::from_vector",
               std::to_string(values.size()) + " values do not fill shape " + shape_str(shape));
  Tensor host = empty(shape, dtype_of<T>::value, Device::cpu());
  std::copy(values.begin(), values.end(), host.data<T>());
  return device.is_cpu() ? host : host.to(device);
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = device().is_cpu() ? *this : to(Device::cpu());
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}

template <typename T>
T Tensor::item() const {
  ENGRAM_CHECK(numel() == 1, ShapeError, "Tensor::item",
               "expected a tensor with one element, got shape " + shape_str(shape()));
  return to_vector<T>()[0];
}

template <typename T>
T Tensor::at(std::initializer_list<int64_t> index) const {
  ENGRAM_CHECK(static_cast<int64_t>(index.size()) == dim(), ShapeError, "Tensor::at",
               std::to_string(index.size()) + " indices for a tensor of shape " + shape_str(shape()));
  Shape strides = this->strides();
  int64_t flat = 0, d = 0;
  for (int64_t i : index) {
    ENGRAM_CHECK(i >= 0 && i < shape()[d], ShapeError, "Tensor::at",
                 "index " + std::to_string(i) + " out of range for dimension " + std::to_string(d) +
                     " of shape " + shape_str(shape()));
    flat += i * strides[d++];
  }
  if (device().is_cpu()) return data<T>()[flat];
  return to_vector<T>()[flat];
}

}  // namespace engram
