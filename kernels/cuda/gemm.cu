// engram's handwritten SGEMM (float32 on CUDA cores, no tensor cores), the
// native twin of the cuBLAS call in kernels/vendor/cublas_gemm.cpp.
//
// Tiling scheme. A block computes a BM x BN tile of C and walks k in steps of
// BK. Each step, the BK x BM slice of op(A) and the BK x BN slice of op(B) are
// staged in shared memory k-major ([BK][BM + 4]), whatever the stored layout:
// an operand whose rows run along k (A as stored, B transposed) is read with
// 16-byte loads along k and transposed on its way into shared memory; an
// operand whose rows run along m or n is copied straight across with 16-byte
// stores. Each of the 256 threads owns a TM x TN patch of C held in registers,
// made of 4 x 4 sub-tiles (8x8 = 2 x 2 of them, half a tile apart), so that
// every shared-memory read is a float4 and a warp (4 x 8 threads) reads 4
// distinct float4 of A and 8 of B per k, without bank conflicts. Shared memory is double
// buffered: the global loads of step t+1 are issued into registers before the
// FMAs of step t and stored to the other buffer after them, so one barrier per
// step suffices and the load latency hides behind the arithmetic. The +4
// padding plus the chunk order of the transposing loader keep its scalar
// shared-memory stores conflict-free. Blocks are ordered in groups of 8
// tile-rows so that blocks resident together share A and B in L2. Two tile
// shapes exist: 128x128x8 with 8x8 per thread for large products, and 64x64x16
// with 4x4 per thread for small ones, where more, shorter blocks fill the GPU;
// a small product with a long k is additionally split along k (split-K) into
// partial tiles that a second kernel sums in a fixed order (deterministic, no
// atomics). Loads are 16-byte wide when every row start is 16-byte aligned
// (aligned base, leading dimension and batch stride multiples of 4); any other
// shape takes the same kernel with scalar, bounds-checked loads.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "core/cuda_runtime.h"
#include "kernels/cuda/common.cuh"
#include "kernels/gemm.h"

namespace engram::cuda {
namespace {

struct GemmArgs {
  const float* a;
  const float* b;
  float* c;
  int m, n, k;
  int64_t lda, ldb;  // stored row lengths: lda = trans_a ? m : k, ldb = trans_b ? k : n
  int64_t stride_a, stride_b, stride_c;
  float alpha, beta;
  int batch;
  int splits;            // k is cut into `splits` ranges of k_per_split (1: no split)
  int k_per_split;       // a multiple of the tile's BK
  int64_t split_stride;  // distance between the partial C of two splits
  bool vec_c;            // C rows are 16-byte aligned: float4 epilogue
};

template <int BM_, int BN_, int BK_, int TM_, int TN_, int MinBlocks_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_, kMinBlocks = MinBlocks_;
  static constexpr int kThreadsM = BM / TM, kThreadsN = BN / TN;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  static_assert(TM % 4 == 0 && TN % 4 == 0, "thread tiles are made of 4x4 sub-tiles");
  static_assert(kThreadsM % 4 == 0 && kThreadsN % 8 == 0, "a warp covers 4 x 8 threads of the tile");
  static_assert(kThreads % 32 == 0, "whole warps");
};
using LargeTiles = TileConfig<128, 128, 8, 8, 8, 2>;
using SmallTiles = TileConfig<64, 64, 16, 4, 4, 2>;

constexpr int kGroupRows = 8;  // tile-rows per group in the block order (L2 reuse)
constexpr int kPad = 4;        // floats of padding per shared-memory row

// Moves the BK x BMN tile of op(X) from global memory into shared memory laid
// out [BK][BMN + kPad], through registers so that the loads of the next tile
// overlap the current tile's arithmetic. KContiguous: X is stored [mn][k]
// (rows run along k); otherwise stored [k][mn]. Out-of-range elements are 0.
// Each thread moves kPerThread float4 chunks and keeps, per chunk, a pointer
// that advances one tile per load: no 64-bit index arithmetic in the loop.
template <int BMN, int BK, int Threads, bool KContiguous, bool Vec>
struct TileLoader {
  static constexpr int kChunks = BMN * BK / 4;  // float4 chunks per tile
  static constexpr int kPerThread = (kChunks + Threads - 1) / Threads;
  static constexpr int kLd = BMN + kPad;
  static_assert(BMN % 16 == 0 && BK % 4 == 0, "tile sizes");

  float4 regs[kPerThread];
  const float* ptr[kPerThread];  // the chunk's first element in the next tile to load
  int mn_left[kPerThread];       // valid elements along mn from the chunk's first one

  // Chunk c covers k offsets kk..kk+3 of one mn (KContiguous) or mn offsets
  // mn..mn+3 of one kk. For KContiguous, 16 consecutive chunks take 16
  // consecutive rows at the same kk: with the padded row length, a warp's
  // transposed stores then fall in 32 distinct banks.
  __device__ static void position(int c, int& kk, int& mn) {
    if constexpr (KContiguous) {
      constexpr int kGroups = BK / 4;  // chunks along k in one row
      mn = (c % 16) + 16 * (c / (16 * kGroups));
      kk = ((c / 16) % kGroups) * 4;
    } else {
      kk = c / (BMN / 4);
      mn = (c % (BMN / 4)) * 4;
    }
  }
  __device__ static bool exists(int c) { return kChunks % Threads == 0 || c < kChunks; }

  // x points at element (0, 0) of this batch's stored matrix with row length
  // ld; the first tile starts at (k0, mn0); valid mn are < mn_size.
  __device__ TileLoader(const float* x, int64_t ld, int k0, int mn0, int mn_size, int tid) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      int kk, mn;
      position(tid + i * Threads, kk, mn);
      mn_left[i] = mn_size - (mn0 + mn);
      ptr[i] = KContiguous ? x + (mn0 + mn) * ld + (k0 + kk) : x + (k0 + kk) * ld + (mn0 + mn);
    }
  }

  // Loads the next tile, of which k_left (<= or > BK) k values are valid.
  __device__ void load(int64_t ld, int k_left, int tid) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int c = tid + i * Threads;
      regs[i] = make_float4(0.f, 0.f, 0.f, 0.f);
      int kk, mn;
      position(c, kk, mn);
      const float* p = ptr[i];
      ptr[i] += KContiguous ? BK : BK * ld;
      if (!exists(c)) continue;
      if constexpr (KContiguous) {
        if (mn_left[i] <= 0) continue;
        if constexpr (Vec) {
          // ld (= k) is a multiple of 4, so a chunk is wholly in or out of range.
          if (kk < k_left) regs[i] = __ldg(reinterpret_cast<const float4*>(p));
        } else {
          if (kk < k_left) regs[i].x = __ldg(p);
          if (kk + 1 < k_left) regs[i].y = __ldg(p + 1);
          if (kk + 2 < k_left) regs[i].z = __ldg(p + 2);
          if (kk + 3 < k_left) regs[i].w = __ldg(p + 3);
        }
      } else {
        if (kk >= k_left) continue;
        if constexpr (Vec) {
          if (mn_left[i] > 0) regs[i] = __ldg(reinterpret_cast<const float4*>(p));
        } else {
          if (mn_left[i] > 0) regs[i].x = __ldg(p);
          if (mn_left[i] > 1) regs[i].y = __ldg(p + 1);
          if (mn_left[i] > 2) regs[i].z = __ldg(p + 2);
          if (mn_left[i] > 3) regs[i].w = __ldg(p + 3);
        }
      }
    }
  }

  __device__ void store(float (*tile)[kLd], int tid) const {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int c = tid + i * Threads;
      if (!exists(c)) continue;
      int kk, mn;
      position(c, kk, mn);
      if constexpr (KContiguous) {
        tile[kk + 0][mn] = regs[i].x;
        tile[kk + 1][mn] = regs[i].y;
        tile[kk + 2][mn] = regs[i].z;
        tile[kk + 3][mn] = regs[i].w;
      } else {
        *reinterpret_cast<float4*>(&tile[kk][mn]) = regs[i];
      }
    }
  }
};

// C tile = op(A) op(B) over one k range; see the tiling scheme at the top.
// blockIdx.x: the tile (grouped order); blockIdx.z + z_offset: batch * splits.
template <class Cfg, bool TransA, bool TransB, bool Vec>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks) sgemm_tiled_kernel(GemmArgs args, int z_offset) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int kThreads = Cfg::kThreads;
  using LoaderA = TileLoader<BM, BK, kThreads, !TransA, Vec>;
  using LoaderB = TileLoader<BN, BK, kThreads, TransB, Vec>;
  __shared__ __align__(16) float a_tile[2][BK][BM + kPad];
  __shared__ __align__(16) float b_tile[2][BK][BN + kPad];

  const int tid = threadIdx.x;
  const int tiles_m = (args.m + BM - 1) / BM, tiles_n = (args.n + BN - 1) / BN;
  const int group_size = kGroupRows * tiles_n;
  const int group = blockIdx.x / group_size, in_group = blockIdx.x % group_size;
  const int first_row = group * kGroupRows;
  const int group_rows = min(tiles_m - first_row, kGroupRows);
  const int m0 = (first_row + in_group % group_rows) * BM;
  const int n0 = (in_group / group_rows) * BN;

  const int z = blockIdx.z + z_offset;
  const int batch_index = z / args.splits, split = z % args.splits;
  const int k_begin = split * args.k_per_split;
  const int k_end = min(args.k, k_begin + args.k_per_split);
  const int num_tiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
  LoaderA load_a(args.a + batch_index * args.stride_a, args.lda, k_begin, m0, args.m, tid);
  LoaderB load_b(args.b + batch_index * args.stride_b, args.ldb, k_begin, n0, args.n, tid);

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  // Thread (tm, tn) of the kThreadsM x kThreadsN grid; a warp is a 4 x 8 patch of it.
  constexpr int kWarpsN = Cfg::kThreadsN / 8;
  const int warp = tid / 32, lane = tid % 32;
  const int tm = (warp / kWarpsN) * 4 + lane / 8;
  const int tn = (warp % kWarpsN) * 8 + lane % 8;

  if (num_tiles > 0) {
    load_a.load(args.lda, k_end - k_begin, tid);
    load_b.load(args.ldb, k_end - k_begin, tid);
    load_a.store(a_tile[0], tid);
    load_b.store(b_tile[0], tid);
    __syncthreads();
  }
  for (int t = 0; t < num_tiles; ++t) {
    const int cur = t & 1;
    const bool has_next = t + 1 < num_tiles;
    if (has_next) {
      const int k_left = k_end - k_begin - (t + 1) * BK;
      load_a.load(args.lda, k_left, tid);
      load_b.load(args.ldb, k_left, tid);
    }
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a_frag[TM], b_frag[TN];
#pragma unroll
      for (int i = 0; i < TM / 4; ++i) {
        float4 v = *reinterpret_cast<const float4*>(&a_tile[cur][kk][i * Cfg::kThreadsM * 4 + tm * 4]);
        a_frag[i * 4 + 0] = v.x, a_frag[i * 4 + 1] = v.y, a_frag[i * 4 + 2] = v.z, a_frag[i * 4 + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) {
        float4 v = *reinterpret_cast<const float4*>(&b_tile[cur][kk][j * Cfg::kThreadsN * 4 + tn * 4]);
        b_frag[j * 4 + 0] = v.x, b_frag[j * 4 + 1] = v.y, b_frag[j * 4 + 2] = v.z, b_frag[j * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a_frag[i], b_frag[j], acc[i][j]);
    }
    if (has_next) {
      load_a.store(a_tile[cur ^ 1], tid);
      load_b.store(b_tile[cur ^ 1], tid);
    }
    __syncthreads();
  }

  // Epilogue: C = alpha * acc + beta * C, C read only when beta != 0.
  float* c = args.c + batch_index * args.stride_c + split * args.split_stride;
#pragma unroll
  for (int i = 0; i < TM / 4; ++i) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int row = m0 + i * Cfg::kThreadsM * 4 + tm * 4 + r;
      if (row >= args.m) continue;
      float* c_row = c + static_cast<int64_t>(row) * args.n;
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) {
        const int col = n0 + j * Cfg::kThreadsN * 4 + tn * 4;
        if (args.vec_c) {
          if (col >= args.n) continue;
          float4 out = make_float4(args.alpha * acc[i * 4 + r][j * 4 + 0], args.alpha * acc[i * 4 + r][j * 4 + 1],
                                   args.alpha * acc[i * 4 + r][j * 4 + 2], args.alpha * acc[i * 4 + r][j * 4 + 3]);
          if (args.beta != 0.f) {
            float4 old = *reinterpret_cast<const float4*>(c_row + col);
            out.x += args.beta * old.x, out.y += args.beta * old.y;
            out.z += args.beta * old.z, out.w += args.beta * old.w;
          }
          *reinterpret_cast<float4*>(c_row + col) = out;
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            if (col + e >= args.n) continue;
            float out = args.alpha * acc[i * 4 + r][j * 4 + e];
            if (args.beta != 0.f) out += args.beta * c_row[col + e];
            c_row[col + e] = out;
          }
        }
      }
    }
  }
}

// c[i] = alpha * sum_s partial[s][i] + beta * c[i], summing splits in order.
__global__ void splitk_reduce_kernel(const float* partial, int splits, int64_t count, float alpha, float beta,
                                     float* c) {
  ENGRAM_GRID_STRIDE_LOOP(i, count) {
    float sum = 0.f;
    for (int s = 0; s < splits; ++s) sum += partial[s * count + i];
    c[i] = beta != 0.f ? alpha * sum + beta * c[i] : alpha * sum;
  }
}

// One launch per 65535 batch entries (the limit of gridDim.z).
template <class Cfg, bool TransA, bool TransB>
void launch_variant(const GemmArgs& args, bool vec) {
  const unsigned tiles = static_cast<unsigned>(((args.m + Cfg::BM - 1) / Cfg::BM) * ((args.n + Cfg::BN - 1) / Cfg::BN));
  const int total = args.batch * args.splits;
  for (int z_offset = 0; z_offset < total; z_offset += 65535) {
    dim3 grid(tiles, 1, static_cast<unsigned>(std::min(total - z_offset, 65535)));
    if (vec)
      launch("sgemm_tiled_kernel", sgemm_tiled_kernel<Cfg, TransA, TransB, true>, grid, Cfg::kThreads, 0, args,
             z_offset);
    else
      launch("sgemm_tiled_kernel", sgemm_tiled_kernel<Cfg, TransA, TransB, false>, grid, Cfg::kThreads, 0, args,
             z_offset);
  }
}

template <class Cfg>
void launch(const GemmArgs& args, bool trans_a, bool trans_b, bool vec) {
  if (!trans_a && !trans_b) launch_variant<Cfg, false, false>(args, vec);
  if (!trans_a && trans_b) launch_variant<Cfg, false, true>(args, vec);
  if (trans_a && !trans_b) launch_variant<Cfg, true, false>(args, vec);
  if (trans_a && trans_b) launch_variant<Cfg, true, true>(args, vec);
}

int64_t tile_count(int64_t m, int64_t n, int bm, int bn) { return ((m + bm - 1) / bm) * ((n + bn - 1) / bn); }

int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// Split-K partial sums live in one buffer that only grows (to at most a few
// MB: about 3 * SMs tiles of 64x64), so a training step allocates nothing
// after its first GEMMs. Sharing is safe because every kernel runs in order on
// engram's one stream. Never freed: it would outlive the CUDA context at exit.
float* splitk_workspace(size_t floats) {
  static float* buffer = nullptr;
  static size_t capacity = 0;
  if (floats > capacity) {
    if (buffer) deallocate(buffer);  // stream-ordered: after the kernels that still use it
    buffer = static_cast<float*>(allocate(floats * sizeof(float)));  // pool memory: 256-byte aligned
    capacity = floats;
  }
  return buffer;
}

struct TilePlan {
  bool large = false;  // 128x128 tiles, else 64x64
  int64_t splits = 1;  // split-K factor (64x64 tiles, batch 1 only)
};

// 128x128 tiles when they give every SM a block and waste little on edge
// tiles (a 130-row product would compute 256 rows). Otherwise 64x64 tiles;
// and when even those leave SMs idle, split k so that about two blocks per SM
// run, each with at least kMinSplitK of k (shorter splits cost more in
// partial-sum traffic than they gain).
TilePlan plan_tiles(const GemmShape& s, int64_t sms) {
  constexpr int64_t kMinSplitK = 64, kMaxSplits = 64;
  const int64_t large_tiles = tile_count(s.m, s.n, LargeTiles::BM, LargeTiles::BN);
  const int64_t small_tiles = tile_count(s.m, s.n, SmallTiles::BM, SmallTiles::BN);
  const int64_t large_area = large_tiles * LargeTiles::BM * LargeTiles::BN;
  const int64_t small_area = small_tiles * SmallTiles::BM * SmallTiles::BN;
  TilePlan plan;
  plan.large = large_tiles * s.batch >= sms && 4 * large_area <= 5 * small_area;
  if (!plan.large && s.batch == 1 && small_tiles < sms)
    plan.splits = std::min({s.k / kMinSplitK, (2 * sms + small_tiles - 1) / small_tiles, kMaxSplits});
  return plan;
}

}  // namespace

void gemm(const GemmShape& shape, float alpha, const float* a, const float* b, float beta, float* c) {
  if (shape.m == 0 || shape.n == 0 || shape.batch == 0) return;
  ENGRAM_CHECK(
      shape.m < INT_MAX && shape.n < INT_MAX && shape.k < INT_MAX && shape.batch * 64 < INT_MAX, ValueError, "gemm",
      "sizes beyond the CUDA kernel's 32-bit range: m=" + std::to_string(shape.m) + " n=" + std::to_string(shape.n) +
          " k=" + std::to_string(shape.k) + " batch=" + std::to_string(shape.batch));
  GemmArgs args{};
  args.a = a, args.b = b, args.c = c;
  args.m = static_cast<int>(shape.m), args.n = static_cast<int>(shape.n), args.k = static_cast<int>(shape.k);
  args.lda = shape.trans_a ? shape.m : shape.k;
  args.ldb = shape.trans_b ? shape.k : shape.n;
  args.stride_a = shape.stride_a, args.stride_b = shape.stride_b, args.stride_c = shape.stride_c;
  args.alpha = alpha, args.beta = beta;
  args.batch = static_cast<int>(shape.batch);
  args.splits = 1;
  args.k_per_split = std::max(args.k, 1);
  args.split_stride = 0;
  // Strides matter only between batches.
  const bool single = shape.batch == 1;
  const bool vec = aligned16(a) && aligned16(b) && args.lda % 4 == 0 && args.ldb % 4 == 0 &&
                   (single || (args.stride_a % 4 == 0 && args.stride_b % 4 == 0));
  args.vec_c = aligned16(c) && args.n % 4 == 0 && (single || args.stride_c % 4 == 0);

  const TilePlan plan = plan_tiles(shape, sm_count());
  if (plan.large) {
    launch<LargeTiles>(args, shape.trans_a, shape.trans_b, vec);
    return;
  }
  if (plan.splits <= 1) {
    launch<SmallTiles>(args, shape.trans_a, shape.trans_b, vec);
    return;
  }
  const int64_t splits = plan.splits;
  const int64_t k_per_split = round_up((shape.k + splits - 1) / splits, SmallTiles::BK);
  args.k_per_split = static_cast<int>(k_per_split);
  args.splits = static_cast<int>((shape.k + k_per_split - 1) / k_per_split);
  const int64_t count = shape.m * shape.n;
  float* partial = splitk_workspace(static_cast<size_t>(args.splits * count));
  args.c = partial;
  args.stride_c = 0;
  args.split_stride = count;
  args.vec_c = args.n % 4 == 0;
  args.alpha = 1.f, args.beta = 0.f;
  launch<SmallTiles>(args, shape.trans_a, shape.trans_b, vec);
  launch("splitk_reduce_kernel", splitk_reduce_kernel, blocks_for(count), kThreads, 0, partial, args.splits, count,
         alpha, beta, c);
}

}  // namespace engram::cuda
