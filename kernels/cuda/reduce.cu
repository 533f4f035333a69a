// Reductions on the GPU, for the [outer, n, inner] view of kernels/reduce.h.
//
// Three shapes of work, each with its own kernel:
//   rows     (inner == 1, n <= kShortRow): one warp per row, shuffle reduction;
//   long rows (inner == 1, n > kShortRow): the row is cut into slices, one
//            block per slice writes a partial sum, and a second pass adds the
//            partials with the rows kernel (a whole-tensor sum is one long row);
//   columns  (inner > 1): a block covers 32 neighbouring inner positions, so a
//            warp reads 32 consecutive floats, and 8 thread rows split n.
// Every reduction runs in a fixed order (no atomics), so results are
// deterministic run to run. Nothing here synchronises the host.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/reduce.h"

namespace engram::cuda {
namespace {

constexpr int kWarpsPerBlock = kThreads / kWarpSize;  // 8 rows per block in the rows kernels
constexpr int64_t kShortRow = 4096;                   // longest row given to a single warp
constexpr int64_t kSliceElements = 4096;              // least work per block in the long-rows kernel
constexpr int64_t kTargetBlocks = 4096;               // enough blocks to fill an H100 several times
constexpr int64_t kMaxSlices = 1024;
constexpr int kColumnTile = 32;                       // inner positions per block in the columns kernels
constexpr int kColumnSplit = kThreads / kColumnTile;  // thread rows that split n

// ---- warp and block reductions ----

// The running maximum: value and the index where it was found. The empty
// candidate (-inf, INT_MAX) loses to every real element, -inf included.
struct ArgMax {
  float value;
  int index;
};

__device__ __forceinline__ ArgMax argmax_identity() { return {-INFINITY, INT_MAX}; }

// Larger value wins, NaN beats every number, equal values keep the lower index:
// a total order, so any reduction tree finds the same winner.
__device__ __forceinline__ bool beats(ArgMax a, ArgMax b) {
  if (isnan(a.value)) return !isnan(b.value) || a.index < b.index;
  if (isnan(b.value)) return false;
  return a.value > b.value || (a.value == b.value && a.index < b.index);
}

__device__ __forceinline__ ArgMax warp_argmax(ArgMax best) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    ArgMax other{__shfl_xor_sync(kFullMask, best.value, offset), __shfl_xor_sync(kFullMask, best.index, offset)};
    if (beats(other, best)) best = other;
  }
  return best;
}

// Argmax over a row of n floats read by the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ ArgMax warp_row_argmax(const float* row, int64_t n, int lane) {
  ArgMax best = argmax_identity();
  for (int64_t j = lane; j < n; j += kWarpSize) {
    ArgMax candidate{row[j], static_cast<int>(j)};
    if (beats(candidate, best)) best = candidate;
  }
  return warp_argmax(best);
}

// ---- sum ----

// out[r] = scale * sum(x[r, :]) for rows of length n, one warp per row.
__global__ void sum_rows_kernel(const float* x, int64_t rows, int64_t n, float scale, float* out) {
  int lane = threadIdx.x % kWarpSize;
  int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / kWarpSize; r < rows; r += warps) {
    const float* row = x + r * n;
    float acc = 0.0f;
#pragma unroll 4
    for (int64_t j = lane; j < n; j += kWarpSize) acc += row[j];
    acc = warp_sum(acc);
    if (lane == 0) out[r] = acc * scale;
  }
}

// dst[r * slices + s] = scale * sum of slice s (span elements) of row r.
// Vectorised requires x 16-byte aligned and n, span multiples of 4.
template <bool Vectorised>
__global__ void sum_slices_kernel(const float* x, int64_t rows, int64_t n, int64_t slices, int64_t span, float scale,
                                  float* dst) {
  for (int64_t b = blockIdx.x; b < rows * slices; b += gridDim.x) {
    int64_t r = b / slices, s = b % slices;
    int64_t begin = s * span, end = min(n, begin + span);
    const float* row = x + r * n;
    float acc = 0.0f;
    if constexpr (Vectorised) {
#pragma unroll 4
      for (int64_t j = begin + 4 * int64_t(threadIdx.x); j < end; j += 4 * int64_t(kThreads)) {
        float4 v = *reinterpret_cast<const float4*>(row + j);
        acc += (v.x + v.y) + (v.z + v.w);
      }
    } else {
#pragma unroll 4
      for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) acc += row[j];
    }
    acc = block_sum<kWarpsPerBlock>(acc);
    if (threadIdx.x == 0) dst[b] = acc * scale;
  }
}

// out[o, i] = scale * sum_j x[o, j, i] for inner > 1.
__global__ void sum_columns_kernel(const float* x, int64_t outer, int64_t n, int64_t inner, float scale, float* out) {
  __shared__ float partial[kColumnSplit][kColumnTile + 1];
  int tx = threadIdx.x % kColumnTile, ty = threadIdx.x / kColumnTile;
  int64_t tiles = (inner + kColumnTile - 1) / kColumnTile;
  for (int64_t b = blockIdx.x; b < outer * tiles; b += gridDim.x) {
    int64_t o = b / tiles, i = (b % tiles) * kColumnTile + tx;
    float acc = 0.0f;
    if (i < inner) {
      const float* column = x + o * n * inner + i;
#pragma unroll 4
      for (int64_t j = ty; j < n; j += kColumnSplit) acc += column[j * inner];
    }
    partial[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && i < inner) {
      float total = 0.0f;
#pragma unroll
      for (int k = 0; k < kColumnSplit; ++k) total += partial[k][tx];
      out[o * inner + i] = total * scale;
    }
    __syncthreads();
  }
}

// grad_x[o, j, i] = scale * grad_out[o, i]
// Index is uint32_t whenever the tensor allows: 64-bit divisions cost more
// than the memory traffic of these kernels.
template <typename Index>
__global__ void broadcast_kernel(const float* grad_out, Index n, Index inner, float scale, float* grad_x, Index total) {
  Index row = n * inner;
  for (Index e = Index(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += Index(blockDim.x) * gridDim.x)
    grad_x[e] = scale * grad_out[(e / row) * inner + e % inner];
}

// ---- max / argmax ----

__device__ __forceinline__ void store_argmax(ArgMax best, int64_t k, float* values, int32_t* indices) {
  if (values) values[k] = best.value;
  if (indices) indices[k] = best.index;
}

__global__ void max_rows_kernel(const float* x, int64_t rows, int64_t n, float* values, int32_t* indices) {
  int lane = threadIdx.x % kWarpSize;
  int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / kWarpSize; r < rows; r += warps) {
    ArgMax best = warp_row_argmax(x + r * n, n, lane);
    if (lane == 0) store_argmax(best, r, values, indices);
  }
}

// One block per long row.
__global__ void max_long_rows_kernel(const float* x, int64_t rows, int64_t n, float* values, int32_t* indices) {
  __shared__ ArgMax warp_best[kWarpsPerBlock];
  int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = x + r * n;
    ArgMax best = argmax_identity();
    for (int64_t j = threadIdx.x; j < n; j += kThreads) {
      ArgMax candidate{row[j], static_cast<int>(j)};
      if (beats(candidate, best)) best = candidate;
    }
    best = warp_argmax(best);
    if (lane == 0) warp_best[warp] = best;
    __syncthreads();
    if (warp == 0) {
      best = lane < kWarpsPerBlock ? warp_best[lane] : argmax_identity();
      best = warp_argmax(best);
      if (lane == 0) store_argmax(best, r, values, indices);
    }
    __syncthreads();
  }
}

__global__ void max_columns_kernel(const float* x, int64_t outer, int64_t n, int64_t inner, float* values,
                                   int32_t* indices) {
  __shared__ float partial_value[kColumnSplit][kColumnTile + 1];
  __shared__ int partial_index[kColumnSplit][kColumnTile + 1];
  int tx = threadIdx.x % kColumnTile, ty = threadIdx.x / kColumnTile;
  int64_t tiles = (inner + kColumnTile - 1) / kColumnTile;
  for (int64_t b = blockIdx.x; b < outer * tiles; b += gridDim.x) {
    int64_t o = b / tiles, i = (b % tiles) * kColumnTile + tx;
    ArgMax best = argmax_identity();
    if (i < inner) {
      const float* column = x + o * n * inner + i;
      for (int64_t j = ty; j < n; j += kColumnSplit) {
        ArgMax candidate{column[j * inner], static_cast<int>(j)};
        if (beats(candidate, best)) best = candidate;
      }
    }
    partial_value[ty][tx] = best.value;
    partial_index[ty][tx] = best.index;
    __syncthreads();
    if (ty == 0 && i < inner) {
      for (int k = 1; k < kColumnSplit; ++k) {
        ArgMax other{partial_value[k][tx], partial_index[k][tx]};
        if (beats(other, best)) best = other;
      }
      store_argmax(best, o * inner + i, values, indices);
    }
    __syncthreads();
  }
}

// grad_x[o, j, i] = grad_values[o, i] if j is the saved argmax, else 0: one
// pass that also writes the zeros, so no memset and no scatter.
template <typename Index>
__global__ void max_backward_kernel(const float* grad_values, const int32_t* indices, Index n, Index inner,
                                    float* grad_x, Index total) {
  Index row = n * inner;
  for (Index e = Index(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += Index(blockDim.x) * gridDim.x) {
    Index k = (e / row) * inner + e % inner;
    Index j = (e / inner) % n;
    grad_x[e] = static_cast<Index>(indices[k]) == j ? grad_values[k] : 0.0f;
  }
}

// ---- count_correct ----

// Stage 1: each block counts the correct rows among those its warps visit.
__global__ void count_correct_partial_kernel(const float* logits, const int32_t* labels, int64_t rows, int64_t classes,
                                             int32_t* partial) {
  int lane = threadIdx.x % kWarpSize;
  int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  int32_t correct = 0;
  for (int64_t r = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / kWarpSize; r < rows; r += warps) {
    ArgMax best = warp_row_argmax(logits + r * classes, classes, lane);
    if (lane == 0 && best.index == labels[r]) ++correct;
  }
  correct = block_sum<kWarpsPerBlock>(correct);
  if (threadIdx.x == 0) partial[blockIdx.x] = correct;
}

// Stage 2: one block adds the per-block counts.
__global__ void sum_counts_kernel(const int32_t* partial, int64_t count, int32_t* total) {
  int32_t acc = 0;
  for (int64_t k = threadIdx.x; k < count; k += kThreads) acc += partial[k];
  acc = block_sum<kWarpsPerBlock>(acc);
  if (threadIdx.x == 0) total[0] = acc;
}

unsigned grid_for_blocks(int64_t blocks) {
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 ? 65535 : blocks));
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A grid-stride loop over `total` elements cannot overflow 32 bits (the grid
// is at most 65535 * 256 threads).
bool fits_uint32(int64_t total) { return total <= (int64_t(1) << 31); }

void launch_sum_rows(const float* x, int64_t rows, int64_t n, float scale, float* out) {
  launch("sum_rows_kernel", sum_rows_kernel, grid_for_blocks(ceil_div(rows, kWarpsPerBlock)), kThreads, 0, x, rows, n,
         scale, out);
}

void launch_sum_slices(const float* x, int64_t rows, int64_t n, int64_t slices, int64_t span, float scale, float* dst,
                       bool vectorised) {
  unsigned grid = grid_for_blocks(rows * slices);
  if (vectorised)
    launch("sum_slices_kernel", sum_slices_kernel<true>, grid, kThreads, 0, x, rows, n, slices, span, scale, dst);
  else
    launch("sum_slices_kernel", sum_slices_kernel<false>, grid, kThreads, 0, x, rows, n, slices, span, scale, dst);
}

}  // namespace

void sum(const Tensor& x, const ReduceView& view, double scale, const Tensor& out) {
  if (view.outer * view.inner == 0) return;
  float s = static_cast<float>(scale);
  if (view.inner > 1) {
    int64_t blocks = view.outer * ceil_div(view.inner, kColumnTile);
    launch("sum_columns_kernel", sum_columns_kernel, grid_for_blocks(blocks), kThreads, 0, cptr(x), view.outer, view.n,
           view.inner, s, mptr(out));
    return;
  }
  if (view.n <= kShortRow) {
    launch_sum_rows(cptr(x), view.outer, view.n, s, mptr(out));
    return;
  }
  // Long rows: enough slices to fill the GPU, but at least kSliceElements each.
  int64_t slices =
      std::min({ceil_div(view.n, kSliceElements), std::max<int64_t>(1, kTargetBlocks / view.outer), kMaxSlices});
  int64_t span = ceil_div(ceil_div(view.n, slices), 4) * 4;  // a multiple of 4 keeps slices float4-aligned
  slices = ceil_div(view.n, span);
  bool vectorised = aligned16(x.raw_data()) && view.n % 4 == 0;
  if (slices == 1) {
    launch_sum_slices(cptr(x), view.outer, view.n, 1, span, s, mptr(out), vectorised);
    return;
  }
  Tensor partial = Tensor::empty({view.outer, slices}, DType::f32, x.device());
  launch_sum_slices(cptr(x), view.outer, view.n, slices, span, 1.0f, mptr(partial), vectorised);
  launch_sum_rows(cptr(partial), view.outer, slices, s, mptr(out));
}

void broadcast(const Tensor& grad_out, const ReduceView& view, double scale, const Tensor& grad_x) {
  int64_t total = grad_x.numel();
  if (total == 0) return;
  float s = static_cast<float>(scale);
  if (fits_uint32(total))
    launch("broadcast_kernel", broadcast_kernel<uint32_t>, blocks_for(total), kThreads, 0, cptr(grad_out),
           uint32_t(view.n), uint32_t(view.inner), s, mptr(grad_x), uint32_t(total));
  else
    launch("broadcast_kernel", broadcast_kernel<int64_t>, blocks_for(total), kThreads, 0, cptr(grad_out), view.n,
           view.inner, s, mptr(grad_x), total);
}

void max(const Tensor& x, const ReduceView& view, const Tensor& values, const Tensor& indices) {
  if (view.outer * view.inner == 0) return;
  float* pv = values.defined() ? mptr(values) : nullptr;
  int32_t* pi = indices.defined() ? static_cast<int32_t*>(indices.raw_data()) : nullptr;
  if (view.inner > 1) {
    int64_t blocks = view.outer * ceil_div(view.inner, kColumnTile);
    launch("max_columns_kernel", max_columns_kernel, grid_for_blocks(blocks), kThreads, 0, cptr(x), view.outer, view.n,
           view.inner, pv, pi);
  } else if (view.n <= kShortRow) {
    launch("max_rows_kernel", max_rows_kernel, grid_for_blocks(ceil_div(view.outer, kWarpsPerBlock)), kThreads, 0,
           cptr(x), view.outer, view.n, pv, pi);
  } else {
    launch("max_long_rows_kernel", max_long_rows_kernel, grid_for_blocks(view.outer), kThreads, 0, cptr(x), view.outer,
           view.n, pv, pi);
  }
}

void max_backward(const Tensor& grad_values, const Tensor& indices, const ReduceView& view, const Tensor& grad_x) {
  int64_t total = grad_x.numel();
  if (total == 0) return;
  auto* index_ptr = static_cast<const int32_t*>(indices.raw_data());
  if (fits_uint32(total))
    launch("max_backward_kernel", max_backward_kernel<uint32_t>, blocks_for(total), kThreads, 0, cptr(grad_values),
           index_ptr, uint32_t(view.n), uint32_t(view.inner), mptr(grad_x), uint32_t(total));
  else
    launch("max_backward_kernel", max_backward_kernel<int64_t>, blocks_for(total), kThreads, 0, cptr(grad_values),
           index_ptr, view.n, view.inner, mptr(grad_x), total);
}

void count_correct(const Tensor& logits, const Tensor& labels, const Tensor& count) {
  int64_t rows = logits.size(0), classes = logits.size(1);
  int64_t blocks = std::min<int64_t>(std::max<int64_t>(ceil_div(rows, kWarpsPerBlock), 1), 1024);
  Tensor partial = Tensor::empty({blocks}, DType::i32, logits.device());
  auto* partial_ptr = static_cast<int32_t*>(partial.raw_data());
  launch("count_correct_partial_kernel", count_correct_partial_kernel, static_cast<unsigned>(blocks), kThreads, 0,
         cptr(logits), static_cast<const int32_t*>(labels.raw_data()), rows, classes, partial_ptr);
  launch("sum_counts_kernel", sum_counts_kernel, 1, kThreads, 0, partial_ptr, blocks,
         static_cast<int32_t*>(count.raw_data()));
}

}  // namespace engram::cuda
