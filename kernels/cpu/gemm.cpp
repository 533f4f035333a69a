// CPU reference GEMM on Eigen. Row-major buffers are mapped as row-major
// Eigen matrices, so a stored transpose is just `.transpose()` of the map and
// Eigen picks the matching packed kernel. Batches run in parallel with OpenMP;
// a single GEMM leaves the threading to Eigen (which goes sequential inside an
// OpenMP region, so the two never oversubscribe).
#include "kernels/gemm.h"

#include <Eigen/Core>

namespace engram::cpu {

namespace {

template <typename T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Products below this many multiply-adds use Eigen's coefficient-based
// (lazy) product: no packing and, above all, no OpenMP fork/join, which Eigen
// starts from 100k multiply-adds and which dominates small products (the
// gradient checks run thousands of them).
constexpr int64_t kSmallProductMacs = int64_t(1) << 18;

// C = alpha * op_a @ op_b + beta * C, reading C only when beta != 0 (BLAS
// convention: with beta = 0 the output may hold garbage, even NaN).
template <typename T, typename OpA, typename OpB>
void multiply_into(const OpA& op_a, const OpB& op_b, T alpha, T beta, Eigen::Map<RowMajorMatrix<T>>& c) {
  const bool small = op_a.rows() * op_a.cols() * op_b.cols() < kSmallProductMacs;
  if (beta == T(0)) {
    if (small)
      c.noalias() = alpha * op_a.lazyProduct(op_b);
    else
      c.noalias() = alpha * (op_a * op_b);
    return;
  }
  if (beta != T(1)) c *= beta;
  if (small)
    c.noalias() += alpha * op_a.lazyProduct(op_b);
  else
    c.noalias() += alpha * (op_a * op_b);
}

template <typename T>
void gemm_one(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c) {
  using ConstMap = Eigen::Map<const RowMajorMatrix<T>>;
  ConstMap a_stored(a, s.trans_a ? s.k : s.m, s.trans_a ? s.m : s.k);
  ConstMap b_stored(b, s.trans_b ? s.n : s.k, s.trans_b ? s.k : s.n);
  Eigen::Map<RowMajorMatrix<T>> c_map(c, s.m, s.n);
  if (!s.trans_a && !s.trans_b) multiply_into(a_stored, b_stored, alpha, beta, c_map);
  if (!s.trans_a && s.trans_b) multiply_into(a_stored, b_stored.transpose(), alpha, beta, c_map);
  if (s.trans_a && !s.trans_b) multiply_into(a_stored.transpose(), b_stored, alpha, beta, c_map);
  if (s.trans_a && s.trans_b) multiply_into(a_stored.transpose(), b_stored.transpose(), alpha, beta, c_map);
}

}  // namespace

// Below this many multiply-adds a batch runs on one thread: waking the team
// costs more than it saves (and far more on a loaded machine).
constexpr int64_t kParallelMacs = int64_t(1) << 20;

template <typename T>
void gemm(const GemmShape& shape, T alpha, const T* a, const T* b, T beta, T* c) {
  if (shape.m == 0 || shape.n == 0 || shape.batch == 0) return;
  const bool parallel = shape.batch > 1 && shape.batch * shape.m * shape.n * shape.k >= kParallelMacs;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t i = 0; i < shape.batch; ++i)
    gemm_one(shape, alpha, a + i * shape.stride_a, b + i * shape.stride_b, beta, c + i * shape.stride_c);
}

template void gemm<float>(const GemmShape&, float, const float*, const float*, float, float*);
template void gemm<double>(const GemmShape&, double, const double*, const double*, double, double*);

}  // namespace engram::cpu
