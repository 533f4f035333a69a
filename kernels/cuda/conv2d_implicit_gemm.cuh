#pragma once
// The implicit-GEMM engine behind the forward, data-gradient and
// weight-gradient passes of conv2d (float32, CUDA cores).
//
// Each pass is a GEMM  C[M, N] = A[M, K] @ B[K, N]  per group whose operands
// are never materialised: a "Problem" describes how to fetch element (m, k)
// of A, element (k, n) of B and where C[m, n] goes (see conv2d_passes.cuh for the three
// mappings). The kernel gathers BK-deep
// slices of A and B straight from the tensors into shared memory (with zeros
// for padding and tails), double-buffered with a register prefetch of the
// next slice, and every thread accumulates an 8x8 block of C in registers.
//
// Thread layout of a BM x BN block tile: threads form a (BM/8) x (BN/8) grid;
// thread (ty, tx) owns rows {ty*4 .. +3, BM/2 + ty*4 .. +3} and columns
// {tx*4 .. +3, BN/2 + tx*4 .. +3}, so that its shared-memory reads are float4
// and a warp's reads hit distinct banks or broadcast.
//
// Operand loading: an operand is "k-fastest" when consecutive k are adjacent
// in memory (weights along C*R*S, grad_y along pixels); then consecutive
// threads take consecutive k, and the decoded positions of the block's rows
// (m or n) are computed once into a shared-memory table. Otherwise ("line-fastest", the
// im2col gather along output pixels) consecutive threads take consecutive
// columns and each thread keeps its one decoded column. Either way a warp's
// global loads are contiguous runs and its shared-memory stores hit 32
// distinct banks (rows padded by 4 floats).
//
// Split-K: blockIdx.z = (subproblem * groups + group) * splits + split. Each
// split writes its partial C to its own slice of a workspace, summed in order
// afterwards by reduce_splits (deterministic, no atomics).
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/conv2d_tile.cuh"

namespace engram::cuda::conv {

// Pass requirements: `problem(sub)` returns an object with members a, b
// (operands: Line, KPos, line(), kpos(), load(), kKFastest), gemm_m, gemm_n,
// gemm_k and store(group, split, m, n, v0..v3) for columns n..n+3 (n % 4 == 0).
template <class Pass, class Tile>
__global__ void __launch_bounds__(Tile::THREADS, Tile::MIN_BLOCKS)
    conv2d_implicit_gemm_kernel(const Pass pass, int groups, int splits, int k_per_split) {
  constexpr int BM = Tile::BM, BN = Tile::BN, THREADS = Tile::THREADS;
  __shared__ __align__(16) float a_tile[2][kTileK][BM + 4];
  __shared__ __align__(16) float b_tile[2][kTileK][BN + 4];

  int z = blockIdx.z;
  const int split = z % splits;
  z /= splits;
  const int group = z % groups;
  const int sub = z / groups;
  const auto& prob = pass.problem(sub);
  using Problem = std::decay_t<decltype(prob)>;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  // The grid covers the largest subproblem; smaller ones leave whole blocks idle.
  if (m0 >= prob.gemm_m || n0 >= prob.gemm_n) return;
  const int k_begin = split * k_per_split;
  const int k_end = min(prob.gemm_k, k_begin + k_per_split);

  const int tid = threadIdx.x;
  using ALoader = OperandLoader<decltype(Problem::a), BM, THREADS>;
  using BLoader = OperandLoader<decltype(Problem::b), BN, THREADS>;
  __shared__ typename ALoader::Line a_lines[ALoader::kTableSize];
  __shared__ typename BLoader::Line b_lines[BLoader::kTableSize];
  __shared__ typename ALoader::KPos a_ring[ALoader::kRingSize];
  __shared__ typename BLoader::KPos b_ring[BLoader::kRingSize];
  ALoader a_loader;
  BLoader b_loader;
  a_loader.init(prob.a, group, m0, tid, a_lines, a_ring, k_begin);
  b_loader.init(prob.b, group, n0, tid, b_lines, b_ring, k_begin);
  __syncthreads();
  a_loader.load(prob.a, k_begin, k_end, 0);
  b_loader.load(prob.b, k_begin, k_end, 0);
  a_loader.store(a_tile[0]);
  b_loader.store(b_tile[0]);
  __syncthreads();

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  const int tx = tid % Tile::THREADS_N, ty = tid / Tile::THREADS_N;
  int buffer = 0;  // = slice % 2: the shared-memory tile and the ring slot of the current slice
  for (int k0 = k_begin; k0 < k_end; k0 += kTileK) {
    const bool has_next = k0 + kTileK < k_end;
    if (has_next) {  // global loads in flight while this slice is multiplied
      a_loader.load(prob.a, k0 + kTileK, k_end, buffer ^ 1);
      b_loader.load(prob.b, k0 + kTileK, k_end, buffer ^ 1);
    }
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float4 a_lo = *reinterpret_cast<const float4*>(&a_tile[buffer][kk][ty * 4]);
      float4 a_hi = *reinterpret_cast<const float4*>(&a_tile[buffer][kk][BM / 2 + ty * 4]);
      float4 b_lo = *reinterpret_cast<const float4*>(&b_tile[buffer][kk][tx * 4]);
      float4 b_hi = *reinterpret_cast<const float4*>(&b_tile[buffer][kk][BN / 2 + tx * 4]);
      const float a[8] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w, a_hi.x, a_hi.y, a_hi.z, a_hi.w};
      const float b[8] = {b_lo.x, b_lo.y, b_lo.z, b_lo.w, b_hi.x, b_hi.y, b_hi.z, b_hi.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (has_next) {
      a_loader.store(a_tile[buffer ^ 1]);
      b_loader.store(b_tile[buffer ^ 1]);
    }
    if (k0 + 2 * kTileK < k_end) {  // the slice after next reuses this slice's ring slot, read above by no one
      a_loader.prepare(prob.a, group, k0 + 2 * kTileK, tid, buffer);
      b_loader.prepare(prob.b, group, k0 + 2 * kTileK, tid, buffer);
    }
    __syncthreads();
    buffer ^= 1;
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int m = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + i - 4);
    if (m >= prob.gemm_m) continue;
    prob.store(group, split, m, n0 + tx * 4, acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    prob.store(group, split, m, n0 + BN / 2 + tx * 4, acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
  }
}

template <class Pass>
void launch_implicit_gemm(const Pass& pass, const GemmPlan& plan, int groups, const char* name) {
  ENGRAM_CHECK(plan.grid_y <= 65535 && plan.grid_z <= 65535 && plan.grid_x < (int64_t(1) << 31), ValueError, name,
               "convolution too large for one launch");
  dim3 grid(static_cast<unsigned>(plan.grid_x), static_cast<unsigned>(plan.grid_y), static_cast<unsigned>(plan.grid_z));
  switch (plan.tile) {
    case 0:
      launch(name, conv2d_implicit_gemm_kernel<Pass, Tile128x128>, grid, Tile128x128::THREADS, 0, pass, groups,
             plan.splits, plan.k_per_split);
      break;
    case 1:
      launch(name, conv2d_implicit_gemm_kernel<Pass, Tile128x64>, grid, Tile128x64::THREADS, 0, pass, groups,
             plan.splits, plan.k_per_split);
      break;
    case 2:
      launch(name, conv2d_implicit_gemm_kernel<Pass, Tile64x128>, grid, Tile64x128::THREADS, 0, pass, groups,
             plan.splits, plan.k_per_split);
      break;
    default:
      launch(name, conv2d_implicit_gemm_kernel<Pass, Tile64x64>, grid, Tile64x64::THREADS, 0, pass, groups, plan.splits,
             plan.k_per_split);
      break;
  }
}

}  // namespace engram::cuda::conv
