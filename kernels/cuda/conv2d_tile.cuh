#pragma once
// The tile-level pieces of conv2d's implicit GEMM that are plain host/device
// code (no kernel): tile shapes, the operand loader and launch plans. The
// kernel itself is in conv2d_implicit_gemm.cuh. Kept apart so that a CPU test
// can run the same loaders and index mappings (tests/cpu/test_conv2d_emulation.cpp).
#include <cstdint>

#include "kernels/cuda/conv2d_common.cuh"

namespace engram::cuda::conv {

constexpr int kTileK = 8;

template <int BM_, int BN_, int THREADS_>
struct TileShape {
  static constexpr int BM = BM_, BN = BN_, THREADS = THREADS_;
  static constexpr int THREADS_N = BN / 8, THREADS_M = BM / 8;
  // At most 128 registers per thread: two 256-thread blocks (or four 128, eight 64) per SM.
  static constexpr int MIN_BLOCKS = 512 / THREADS;
  static_assert(THREADS_M * THREADS_N == THREADS, "each thread computes an 8x8 block of C");
};

using Tile128x128 = TileShape<128, 128, 256>;
using Tile128x64 = TileShape<128, 64, 128>;
using Tile64x128 = TileShape<64, 128, 128>;
using Tile64x64 = TileShape<64, 64, 64>;

// Loads the BK x EXTENT slice of one operand (EXTENT = BM for A, BN for B)
// into registers, then into shared memory stored [k][line].
//
// Decoding a position (k or a line) costs a few fast divisions, so each is
// decoded once per block into shared memory: the block's lines once at the
// start, and the kTileK positions of a slice by kTileK threads two slices
// ahead (a two-slot ring), instead of every thread decoding its own.
template <class Operand, int EXTENT, int THREADS>
struct OperandLoader {
  using Line = typename Operand::Line;
  using KPos = typename Operand::KPos;
  static constexpr bool kKFastest = Operand::kKFastest;
  static constexpr int kElems = EXTENT * kTileK / THREADS;
  static constexpr int kLineStep = THREADS / kTileK;  // k-fastest: distance between a thread's lines
  static constexpr int kKStep = THREADS / EXTENT;     // line-fastest: distance between a thread's k
  static constexpr int kTableSize = kKFastest ? EXTENT : 1;
  static constexpr int kRingSize = 2 * kTileK;
  static_assert(EXTENT * kTileK % THREADS == 0, "the slice must split evenly among threads");
  static_assert(kKFastest ? THREADS % kTileK == 0 : THREADS % EXTENT == 0, "unsupported loader shape");
  static_assert(THREADS >= kRingSize, "the first two slices are decoded by one thread each");

  // k-fastest: the block's lines are in shared memory (a thread needs kElems
  // of them, too many to keep in registers beside the accumulators);
  // line-fastest: the thread's one line stays in registers.
  const Line* table;
  Line own_line;
  KPos* ring;  // shared, [2][kTileK]: slot s holds the slices t with t % 2 == s
  float values[kElems];
  int k_local, line_local;

  // Decodes the lines and the first two slices' positions (from k_begin); the
  // caller synchronises the block before the first load.
  ENGRAM_CONV_HD void init(const Operand& op, int group, int line0, int tid, Line* shared_table, KPos* shared_ring,
                           int k_begin) {
    if constexpr (kKFastest) {
      k_local = tid % kTileK;
      line_local = tid / kTileK;
      for (int l = tid; l < EXTENT; l += THREADS) shared_table[l] = op.line(group, line0 + l);
      table = shared_table;
    } else {
      line_local = tid % EXTENT;
      k_local = tid / EXTENT;
      own_line = op.line(group, line0 + line_local);
    }
    ring = shared_ring;
    if (tid < kRingSize) ring[tid] = op.kpos(group, k_begin + tid);
  }

  // Decodes the slice starting at k0 into ring slot `slot` (threads 0 .. kTileK-1 do the work);
  // the slot must not be read again before the next block barrier.
  ENGRAM_CONV_HD void prepare(const Operand& op, int group, int k0, int tid, int slot) {
    if (tid < kTileK) ring[slot * kTileK + tid] = op.kpos(group, k0 + tid);
  }

  // Loads the slice starting at k0, whose positions are in ring slot `slot`.
  ENGRAM_CONV_HD void load(const Operand& op, int k0, int k_end, int slot) {
    if constexpr (kKFastest) {
      const bool inside = k0 + k_local < k_end;
      const KPos pos = ring[slot * kTileK + k_local];
      ENGRAM_CONV_UNROLL
      for (int i = 0; i < kElems; ++i) values[i] = inside ? op.load(table[line_local + i * kLineStep], pos) : 0.0f;
    } else {
      ENGRAM_CONV_UNROLL
      for (int i = 0; i < kElems; ++i) {
        const int k = k_local + i * kKStep;
        values[i] = k0 + k < k_end ? op.load(own_line, ring[slot * kTileK + k]) : 0.0f;
      }
    }
  }

  ENGRAM_CONV_HD void store(float (*tile)[EXTENT + 4]) const {
    ENGRAM_CONV_UNROLL
    for (int i = 0; i < kElems; ++i) {
      if constexpr (kKFastest)
        tile[k_local][line_local + i * kLineStep] = values[i];
      else
        tile[k_local + i * kKStep][line_local] = values[i];
    }
  }
};

// How one implicit GEMM is launched: tile shape, split-K and grid.
struct GemmPlan {
  int tile = 0;  // index into the tile table: 128x128, 128x64, 64x128, 64x64
  int splits = 1;
  int k_per_split = 0;
  int64_t grid_x = 1, grid_y = 1, grid_z = 1;
};

// The tile shapes a plan can pick (GemmPlan::tile indexes this table), with
// the blocks that fit on one SM and a guessed relative FMA efficiency
// (smaller tiles reload more operand bytes per FMA).
struct TileInfo {
  int bm, bn, blocks_per_sm;
  double efficiency;
};
constexpr TileInfo kTiles[4] = {{128, 128, 2, 1.0}, {128, 64, 4, 0.85}, {64, 128, 4, 0.85}, {64, 64, 8, 0.7}};

// The plan for a given tile and split count; k_per_split is a whole number
// of BK slices, and trailing splits that would get no work are dropped.
GemmPlan make_plan(int tile, int splits, int64_t m, int64_t n, int64_t k, int64_t batches);

// Picks the tile shape and split count with the smallest estimated time (a
// per-SM load model, see conv2d_forward.cu) on a GPU with `sms`
// multiprocessors. `batches` = groups * subproblems. Without allow_split the
// plan has one split.
GemmPlan plan_implicit_gemm(int64_t m, int64_t n, int64_t k, int64_t batches, bool allow_split, int sms);

}  // namespace engram::cuda::conv
