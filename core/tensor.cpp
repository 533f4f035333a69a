#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "core/autograd.h"
#include "core/cuda_runtime.h"

namespace engram {

namespace {

std::shared_ptr<TensorImpl> make_impl(std::shared_ptr<Storage> storage, int64_t offset, Shape shape,
                                      DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->dtype = dtype;
  return impl;
}

void check_shape_valid(const char* op, const Shape& shape) {
  for (int64_t d : shape)
    ENGRAM_CHECK(d >= 0, ShapeError, op, "negative dimension in shape " + shape_str(shape));
}

template <typename Src, typename Dst>
void cast_host(const void* src, void* dst, size_t count) {
  auto s = static_cast<const Src*>(src);
  auto d = static_cast<Dst*>(dst);
  for (size_t i = 0; i < count; ++i) d[i] = static_cast<Dst>(s[i]);
}

template <typename Src>
void cast_host_from(const void* src, void* dst, DType dst_dtype, size_t count) {
  switch (dst_dtype) {
    case DType::f32: cast_host<Src, float>(src, dst, count); break;
    case DType::f64: cast_host<Src, double>(src, dst, count); break;
    case DType::i32: cast_host<Src, int32_t>(src, dst, count); break;
    case DType::u8: cast_host<Src, uint8_t>(src, dst, count); break;
  }
}

void cast_host_any(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t count) {
  switch (src_dtype) {
    case DType::f32: cast_host_from<float>(src, dst, dst_dtype, count); break;
    case DType::f64: cast_host_from<double>(src, dst, dst_dtype, count); break;
    case DType::i32: cast_host_from<int32_t>(src, dst, dst_dtype, count); break;
    case DType::u8: cast_host_from<uint8_t>(src, dst, dst_dtype, count); break;
  }
}

// Copies bytes between any two devices.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if ENGRAM_HAS_CUDA
  if (dst_device.is_cuda() && src_device.is_cuda()) cuda::copy_device_to_device(dst, src, bytes);
  else if (dst_device.is_cuda()) cuda::copy_to_device(dst, src, bytes);
  else cuda::copy_to_host(dst, src, bytes);
#else
  throw DeviceError("Tensor copy: engram was built without CUDA");
#endif
}

}  // namespace

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape_valid("Tensor::empty", shape);
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return Tensor(make_impl(Storage::allocate(bytes, device), 0, shape, dtype));
}

Tensor Tensor::empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return empty(shape, dtype, device).fill_(0.0);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return empty(shape, dtype, device).fill_(1.0);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  return empty(shape, dtype, device).fill_(value);
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

// ---- accessors ----

void Tensor::check_defined(const char* op) const {
  ENGRAM_CHECK(impl_ != nullptr, ValueError, op, "the tensor is undefined (default-constructed)");
}

const Shape& Tensor::shape() const {
  check_defined("Tensor::shape");
  return impl_->shape;
}

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  ENGRAM_CHECK(d >= -n && d < n, ShapeError, "Tensor::size",
               "dimension " + std::to_string(d) + " out of range for shape " + shape_str(shape()));
  return shape()[d < 0 ? d + n : d];
}

DType Tensor::dtype() const {
  check_defined("Tensor::dtype");
  return impl_->dtype;
}

Device Tensor::device() const {
  check_defined("Tensor::device");
  return impl_->storage->device();
}

void* Tensor::raw_data() const {
  check_defined("Tensor::raw_data");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<int64_t>(dtype_size(dtype()));
}

// ---- copies and views ----

Tensor Tensor::to(Device device) const {
  check_defined("Tensor::to");
  Tensor out = empty(shape(), dtype(), device);
  copy_bytes(out.raw_data(), device, raw_data(), this->device(), nbytes());
  return out;
}

Tensor Tensor::to(DType dtype) const {
  check_defined("Tensor::to");
  Tensor out = empty(shape(), dtype, device());
  if (device().is_cpu()) {
    cast_host_any(raw_data(), this->dtype(), out.raw_data(), dtype, static_cast<size_t>(numel()));
  } else {
#if ENGRAM_HAS_CUDA
    cuda::cast(raw_data(), this->dtype(), out.raw_data(), dtype, static_cast<size_t>(numel()));
#endif
  }
  return out;
}

Tensor Tensor::clone() const { return to(device()); }

Tensor Tensor::reshape(const Shape& new_shape) const {
  check_defined("Tensor::reshape");
  Shape resolved = new_shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      ENGRAM_CHECK(infer < 0, ShapeError, "reshape", "only one dimension may be -1, got " + shape_str(new_shape));
      infer = static_cast<int64_t>(i);
    } else {
      ENGRAM_CHECK(resolved[i] >= 0, ShapeError, "reshape", "negative dimension in " + shape_str(new_shape));
      known *= resolved[i];
    }
  }
  if (infer >= 0) {
    ENGRAM_CHECK(known > 0 && numel() % known == 0, ShapeError, "reshape",
                 "cannot infer -1 in " + shape_str(new_shape) + " for " + std::to_string(numel()) + " elements");
    resolved[infer] = numel() / known;
  }
  ENGRAM_CHECK(shape_numel(resolved) == numel(), ShapeError, "reshape",
               "shape " + shape_str(new_shape) + " does not hold the " + std::to_string(numel()) +
                   " elements of " + shape_str(shape()));
  Tensor out(make_impl(impl_->storage, impl_->offset, resolved, dtype()));
  Shape input_shape = shape();
  return autograd::record("reshape", out, {*this}, [input_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(input_shape)};
  });
}

Tensor Tensor::narrow_rows(int64_t start, int64_t length) const {
  check_defined("Tensor::narrow_rows");
  ENGRAM_CHECK(dim() >= 1, ShapeError, "narrow_rows", "expected at least 1 dimension, got a scalar");
  ENGRAM_CHECK(start >= 0 && length >= 0 && start + length <= size(0), ShapeError, "narrow_rows",
               "rows [" + std::to_string(start) + ", " + std::to_string(start + length) +
                   ") out of range for shape " + shape_str(shape()));
  Shape s = shape();
  s[0] = length;
  int64_t row = numel() / std::max<int64_t>(size(0), 1);
  return Tensor(make_impl(impl_->storage, impl_->offset + start * row, s, dtype()));
}

Tensor Tensor::detach() const {
  check_defined("Tensor::detach");
  return Tensor(make_impl(impl_->storage, impl_->offset, shape(), dtype()));
}

Tensor& Tensor::fill_(double value) {
  check_defined("Tensor::fill_");
  size_t n = static_cast<size_t>(numel());
  if (n == 0) return *this;
  if (device().is_cpu()) {
    double v = value;
    cast_host_any(&v, DType::f64, raw_data(), dtype(), 1);
    size_t elem = dtype_size(dtype());
    auto base = static_cast<char*>(raw_data());
    for (size_t i = 1; i < n; ++i) std::memcpy(base + i * elem, base, elem);
  } else {
#if ENGRAM_HAS_CUDA
    cuda::fill(raw_data(), dtype(), n, value);
#endif
  }
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("Tensor::copy_");
  engram::check_defined("Tensor::copy_", "src", src);
  check_same_shape("Tensor::copy_", *this, src);
  check_same_dtype("Tensor::copy_", *this, src);
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  return *this;
}

// ---- printing ----

std::string Tensor::repr(int64_t max_elements) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype()) << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ")\n";
  std::vector<double> values = to(Device::cpu()).to(DType::f64).to_vector<double>();
  Shape strides = this->strides();
  int64_t shown = std::min<int64_t>(numel(), max_elements);
  os << std::setprecision(6);
  // A bracket opens (closes) for dimension d where a block of span[d] elements starts (ends).
  Shape span(strides.size());
  for (size_t d = 0; d < strides.size(); ++d) span[d] = strides[d] * shape()[d];
  for (int64_t i = 0; i < shown; ++i) {
    for (int64_t d = 0; d < dim(); ++d)
      if (span[d] > 0 && i % span[d] == 0) os << "[";
    os << values[i];
    int64_t closing = 0;
    for (int64_t d = 0; d < dim(); ++d)
      if (span[d] > 0 && (i + 1) % span[d] == 0) ++closing;
    os << std::string(closing, ']');
    if (i + 1 < shown) os << (closing ? ",\n" : ", ");
  }
  if (shown < numel()) os << " ... (" << numel() - shown << " more)";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.repr(); }

// ---- autograd accessors ----

bool Tensor::requires_grad() const { return impl_ && (impl_->requires_grad || impl_->grad_fn); }

Tensor& Tensor::requires_grad_(bool value) {
  check_defined("Tensor::requires_grad_");
  ENGRAM_CHECK(is_leaf(), AutogradError, "requires_grad_",
               "can only be set on leaf tensors; this tensor is the output of '" + impl_->grad_fn->op + "'");
  ENGRAM_CHECK(!value || is_floating(dtype()), DTypeError, "requires_grad_",
               std::string("only floating tensors can require grad, got ") + dtype_name(dtype()));
  impl_->requires_grad = value;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_ || impl_->grad_fn == nullptr; }

Tensor Tensor::grad() const {
  check_defined("Tensor::grad");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& grad) const {
  check_defined("Tensor::set_grad");
  if (grad.defined()) check_same_shape("Tensor::set_grad", *this, grad);
  impl_->grad = grad;
}

void Tensor::zero_grad() const {
  check_defined("Tensor::zero_grad");
  impl_->grad = Tensor();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined("Tensor::grad_fn");
  return impl_->grad_fn;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> node) const {
  check_defined("Tensor::set_grad_fn");
  impl_->grad_fn = std::move(node);
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  autograd::backward(*this, grad_output, retain_graph);
}

// ---- argument checks ----

void check_defined(const char* op, const char* name, const Tensor& t) {
  ENGRAM_CHECK(t.defined(), ValueError, op, std::string(name) + " is undefined");
}

void check_dim(const char* op, const char* name, const Tensor& t, int64_t dim, const char* layout) {
  check_defined(op, name, t);
  ENGRAM_CHECK(t.dim() == dim, ShapeError, op,
               std::string(name) + " must be " + std::to_string(dim) + "-D " + layout + ", got shape " +
                   shape_str(t.shape()));
}

void check_floating(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  ENGRAM_CHECK(is_floating(t.dtype()), DTypeError, op,
               std::string(name) + " must be f32 or f64, got " + dtype_name(t.dtype()));
}

void check_dtype(const char* op, const char* name, const Tensor& t, DType dtype) {
  check_defined(op, name, t);
  ENGRAM_CHECK(t.dtype() == dtype, DTypeError, op,
               std::string(name) + " must be " + dtype_name(dtype) + ", got " + dtype_name(t.dtype()));
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  ENGRAM_CHECK(a.device() == b.device(), DeviceError, op,
               "tensors on different devices: " + a.device().str() + " and " + b.device().str());
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  ENGRAM_CHECK(a.shape() == b.shape(), ShapeError, op,
               "shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  ENGRAM_CHECK(a.dtype() == b.dtype(), DTypeError, op,
               std::string("dtypes differ: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
}

}  // namespace engram
