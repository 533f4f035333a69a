// matmul and linear: argument checks, the GEMM calls of forward and backward,
// and their autograd nodes. Every product goes through engram::gemm, so the
// CPU/CUDA and native/cuBLAS choice is made in one place (kernels/gemm.cpp).
#include "kernels/matmul.h"

#include <string>

#include "core/autograd.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"

namespace engram {

namespace {

void check_operands(const char* op, const Tensor& a, const char* a_name, const Tensor& b, const char* b_name) {
  check_floating(op, a_name, a);
  check_floating(op, b_name, b);
  check_same_device(op, a, b);
  check_same_dtype(op, a, b);
  ENGRAM_CHECK(a.device().is_cpu() || a.dtype() == DType::f32, DTypeError, op,
               std::string("the CUDA backend computes in f32, got ") + dtype_name(a.dtype()) + " (run f64 on the CPU)");
}

// Sizes of op(t) for a 2-D or 3-D operand: {rows, cols} of the last two dims after the optional transpose.
int64_t op_rows(const Tensor& t, bool trans) { return trans ? t.size(-1) : t.size(-2); }
int64_t op_cols(const Tensor& t, bool trans) { return trans ? t.size(-2) : t.size(-1); }

std::string op_str(const char* name, const Tensor& t, bool trans) {
  return std::string(trans ? "op(" : "") + name + (trans ? ")" : "") + " = [" + std::to_string(op_rows(t, trans)) +
         ", " + std::to_string(op_cols(t, trans)) + "]";
}

// out = op(a) @ op(b) + beta * out for 2-D operands or 3-D batches of equal
// size; shapes were validated by the caller.
void gemm_into(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& out, double beta) {
  GemmShape s;
  s.trans_a = trans_a;
  s.trans_b = trans_b;
  s.m = op_rows(a, trans_a);
  s.k = op_cols(a, trans_a);
  s.n = op_cols(b, trans_b);
  s.batch = a.dim() == 3 ? a.size(0) : 1;
  s.stride_a = s.m * s.k;
  s.stride_b = s.k * s.n;
  s.stride_c = s.m * s.n;
  ENGRAM_DISPATCH_FLOATING(a.dtype(), "matmul", [&] {
    gemm<scalar_t>(a.device(), s, scalar_t(1), a.data<scalar_t>(), b.data<scalar_t>(), static_cast<scalar_t>(beta),
                   out.data<scalar_t>());
  });
}

Tensor product(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b) {
  Shape shape{op_rows(a, trans_a), op_cols(b, trans_b)};
  if (a.dim() == 3) shape.insert(shape.begin(), a.size(0));
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  gemm_into(a, trans_a, b, trans_b, out, 0.0);
  return out;
}

void bias_broadcast(const Tensor& bias, const Tensor& rows) {
  ENGRAM_DISPATCH(linear, "linear", rows, bias_broadcast, bias, rows);
}

Tensor bias_gradient(const Tensor& grad_rows) {
  Tensor grad_bias = Tensor::empty({grad_rows.size(1)}, grad_rows.dtype(), grad_rows.device());
  ENGRAM_DISPATCH(linear, "linear", grad_rows, bias_backward, grad_rows, grad_bias);
  return grad_bias;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const char* op = "matmul";
  check_operands(op, a, "a", b, "b");
  ENGRAM_CHECK(a.dim() == 2 || a.dim() == 3, ShapeError, op,
               std::string("a must be 2-D ") + (trans_a ? "[k, m]" : "[m, k]") + " or 3-D " +
                   (trans_a ? "[batch, k, m]" : "[batch, m, k]") + ", got shape " + shape_str(a.shape()));
  ENGRAM_CHECK(b.dim() == a.dim(), ShapeError, op,
               "b must have the rank of a (" + std::to_string(a.dim()) + "-D), got shape " + shape_str(b.shape()));
  ENGRAM_CHECK(a.dim() == 2 || a.size(0) == b.size(0), ShapeError, op,
               "batch sizes differ: a " + shape_str(a.shape()) + ", b " + shape_str(b.shape()));
  ENGRAM_CHECK(op_cols(a, trans_a) == op_rows(b, trans_b), ShapeError, op,
               "inner dimensions differ: " + op_str("a", a, trans_a) + ", " + op_str("b", b, trans_b) + " (a " +
                   shape_str(a.shape()) + ", b " + shape_str(b.shape()) + ")");

  Tensor out = product(a, trans_a, b, trans_b);
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor a_saved = a.detach(), b_saved = b.detach();
  // With C = op(A) op(B) and G = dC: d op(A) = G op(B)^T and d op(B) = op(A)^T G,
  // transposed back when the operand was stored transposed.
  return autograd::record(op, out, {a, b}, [=](const Tensor& g) {
    Tensor grad_a, grad_b;
    if (need_a) grad_a = trans_a ? product(b_saved, trans_b, g, true) : product(g, false, b_saved, !trans_b);
    if (need_b) grad_b = trans_b ? product(g, true, a_saved, trans_a) : product(a_saved, !trans_a, g, false);
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear";
  check_operands(op, x, "x", weight, "weight");
  check_dim(op, "x", x, 2, "[N, in]");
  check_dim(op, "weight", weight, 2, "[out, in]");
  ENGRAM_CHECK(x.size(1) == weight.size(1), ShapeError, op,
               "x has " + std::to_string(x.size(1)) + " features (shape " + shape_str(x.shape()) +
                   ") but weight [out, in] = " + shape_str(weight.shape()) + " expects " +
                   std::to_string(weight.size(1)));
  bool has_bias = bias.defined();
  if (has_bias) {
    check_operands(op, weight, "weight", bias, "bias");
    ENGRAM_CHECK(
        bias.dim() == 1 && bias.size(0) == weight.size(0), ShapeError, op,
        "bias must be 1-D [out] = [" + std::to_string(weight.size(0)) + "], got shape " + shape_str(bias.shape()));
  }

  Tensor out = Tensor::empty({x.size(0), weight.size(0)}, x.dtype(), x.device());
  if (has_bias) bias_broadcast(bias, out);
  gemm_into(x, false, weight, true, out, has_bias ? 1.0 : 0.0);

  bool need_x = x.requires_grad(), need_weight = weight.requires_grad(), need_bias = has_bias && bias.requires_grad();
  Tensor x_saved = x.detach(), weight_saved = weight.detach();
  std::vector<Tensor> inputs{x, weight};
  if (has_bias) inputs.push_back(bias);
  // y = x W^T + b: dx = G W, dW = G^T x, db = column sums of G.
  return autograd::record(op, out, inputs, [=](const Tensor& g) {
    std::vector<Tensor> grads(has_bias ? 3 : 2);
    if (need_x) grads[0] = product(g, false, weight_saved, false);
    if (need_weight) grads[1] = product(g, true, x_saved, false);
    if (need_bias) grads[2] = bias_gradient(g);
    return grads;
  });
}

}  // namespace engram
