// The CUDA convolution's index arithmetic, checked on the CPU: the kernels'
// operand loaders, GEMM mappings, stride phases, split-K layout and depthwise
// element functions are __host__ __device__ code, so this test runs them
// block by block, thread by thread (a host replica of the kernel's loop in
// conv2d_implicit_gemm.cuh) and compares with the CPU reference. A GPU run
// then only has to confirm timing-free behaviour the host cannot see
// (synchronisation, shared-memory races, vector alignment on the device).
#include <catch2/catch.hpp>

#if ENGRAM_HAS_CUDA

#include <array>
#include <cmath>
#include <vector>

#include "core/random.h"
#include "kernels/cuda/conv2d_depthwise.cuh"
#include "kernels/cuda/conv2d_passes.cuh"
#include "tests/cases/conv2d.h"
#include "tests/support/checks.h"

using namespace engram;
using namespace engram::cuda::conv;

namespace {

// One thread block of conv2d_implicit_gemm_kernel, its threads run phase by
// phase (each loop over tid stands between two __syncthreads of the kernel).
template <class Pass, class Tile>
void emulate_block(const Pass& pass, int groups, int splits, int k_per_split, int bx, int by, int bz) {
  constexpr int BM = Tile::BM, BN = Tile::BN, THREADS = Tile::THREADS;
  static float a_tile[2][kTileK][BM + 4], b_tile[2][kTileK][BN + 4];
  int z = bz;
  const int split = z % splits;
  z /= splits;
  const int group = z % groups;
  const int sub = z / groups;
  const auto& prob = pass.problem(sub);
  using Problem = std::decay_t<decltype(prob)>;
  const int m0 = by * BM, n0 = bx * BN;
  if (m0 >= prob.gemm_m || n0 >= prob.gemm_n) return;
  const int k_begin = split * k_per_split;
  const int k_end = std::min(prob.gemm_k, k_begin + k_per_split);
  using ALoader = OperandLoader<decltype(Problem::a), BM, THREADS>;
  using BLoader = OperandLoader<decltype(Problem::b), BN, THREADS>;
  static typename ALoader::Line a_lines[ALoader::kTableSize];
  static typename BLoader::Line b_lines[BLoader::kTableSize];
  static typename ALoader::KPos a_ring[ALoader::kRingSize];
  static typename BLoader::KPos b_ring[BLoader::kRingSize];
  // Poison shared memory: a slot the loaders fail to write shows up as NaN.
  for (auto& t : a_tile)
    for (auto& row : t)
      for (float& v : row) v = NAN;
  for (auto& t : b_tile)
    for (auto& row : t)
      for (float& v : row) v = NAN;
  std::vector<ALoader> a(THREADS);
  std::vector<BLoader> b(THREADS);
  for (int tid = 0; tid < THREADS; ++tid) {
    a[tid].init(prob.a, group, m0, tid, a_lines, a_ring, k_begin);
    b[tid].init(prob.b, group, n0, tid, b_lines, b_ring, k_begin);
  }
  for (int tid = 0; tid < THREADS; ++tid) {
    a[tid].load(prob.a, k_begin, k_end, 0);
    b[tid].load(prob.b, k_begin, k_end, 0);
    a[tid].store(a_tile[0]);
    b[tid].store(b_tile[0]);
  }
  std::vector<std::array<float, 64>> acc(THREADS);
  for (auto& c : acc) c.fill(0.0f);
  int buffer = 0;
  for (int k0 = k_begin; k0 < k_end; k0 += kTileK) {
    const bool has_next = k0 + kTileK < k_end;
    for (int tid = 0; has_next && tid < THREADS; ++tid) {
      a[tid].load(prob.a, k0 + kTileK, k_end, buffer ^ 1);
      b[tid].load(prob.b, k0 + kTileK, k_end, buffer ^ 1);
    }
    for (int tid = 0; tid < THREADS; ++tid) {
      const int tx = tid % Tile::THREADS_N, ty = tid / Tile::THREADS_N;
      for (int kk = 0; kk < kTileK; ++kk) {
        float av[8], bv[8];
        for (int i = 0; i < 4; ++i) {
          av[i] = a_tile[buffer][kk][ty * 4 + i], av[4 + i] = a_tile[buffer][kk][BM / 2 + ty * 4 + i];
          bv[i] = b_tile[buffer][kk][tx * 4 + i], bv[4 + i] = b_tile[buffer][kk][BN / 2 + tx * 4 + i];
        }
        for (int i = 0; i < 8; ++i)
          for (int j = 0; j < 8; ++j) acc[tid][i * 8 + j] = std::fma(av[i], bv[j], acc[tid][i * 8 + j]);
      }
    }
    for (int tid = 0; has_next && tid < THREADS; ++tid) {
      a[tid].store(a_tile[buffer ^ 1]);
      b[tid].store(b_tile[buffer ^ 1]);
    }
    for (int tid = 0; k0 + 2 * kTileK < k_end && tid < THREADS; ++tid) {
      a[tid].prepare(prob.a, group, k0 + 2 * kTileK, tid, buffer);
      b[tid].prepare(prob.b, group, k0 + 2 * kTileK, tid, buffer);
    }
    buffer ^= 1;
  }
  for (int tid = 0; tid < THREADS; ++tid) {
    const int tx = tid % Tile::THREADS_N, ty = tid / Tile::THREADS_N;
    for (int i = 0; i < 8; ++i) {
      const int m = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + i - 4);
      if (m >= prob.gemm_m) continue;
      const float* c = &acc[tid][i * 8];
      prob.store(group, split, m, n0 + tx * 4, c[0], c[1], c[2], c[3]);
      prob.store(group, split, m, n0 + BN / 2 + tx * 4, c[4], c[5], c[6], c[7]);
    }
  }
}

template <class Pass, class Tile>
void emulate_grid(const Pass& pass, const GemmPlan& plan, int groups) {
  for (int64_t bz = 0; bz < plan.grid_z; ++bz)
    for (int64_t by = 0; by < plan.grid_y; ++by)
      for (int64_t bx = 0; bx < plan.grid_x; ++bx)
        emulate_block<Pass, Tile>(pass, groups, plan.splits, plan.k_per_split, static_cast<int>(bx),
                                  static_cast<int>(by), static_cast<int>(bz));
}

template <class Pass>
void emulate(const Pass& pass, const GemmPlan& plan, int groups) {
  switch (plan.tile) {
    case 0: emulate_grid<Pass, Tile128x128>(pass, plan, groups); break;
    case 1: emulate_grid<Pass, Tile128x64>(pass, plan, groups); break;
    case 2: emulate_grid<Pass, Tile64x128>(pass, plan, groups); break;
    default: emulate_grid<Pass, Tile64x64>(pass, plan, groups); break;
  }
}

// reduce_splits_kernel's sum, in the same order.
void reduce(const std::vector<float>& partial, int splits, int64_t count, const float* bias, int inner, int channels,
            float* out) {
  for (int64_t i = 0; i < count; ++i) {
    float total = 0;
    for (int s = 0; s < splits; ++s) total += partial[s * count + i];
    if (bias) total += bias[(i / inner) % channels];
    out[i] = total;
  }
}

struct Launch {
  int tile, splits;  // splits requested; make_plan may use fewer
};

void forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y, Launch launch) {
  if (is_depthwise(g)) {
    DepthwiseDims dd(g);
    for (int64_t i = 0; i < g.batch * g.out_channels * g.out_height * g.out_width; ++i)
      y[i] = depthwise_output(dd, x, w, bias, static_cast<int>(i));
    return;
  }
  ForwardPass pass = make_forward_pass(g, x, w);
  int groups = static_cast<int>(g.params.groups);
  GemmPlan plan = make_plan(launch.tile, launch.splits, pass.gemm_m, pass.gemm_n, pass.gemm_k, groups);
  std::vector<float> workspace;
  if (plan.splits > 1) workspace.assign(plan.splits * pass.split_stride, NAN);
  set_forward_output(pass, plan.splits > 1 ? workspace.data() : y, plan.splits > 1 ? nullptr : bias);
  emulate(pass, plan, groups);
  if (plan.splits > 1) reduce(workspace, plan.splits, pass.split_stride, bias, pass.pixels, pass.out_channels, y);
}

void backward_data(const Conv2dGeometry& g, const float* grad_y, const float* w, float* grad_x, Launch launch) {
  if (is_depthwise(g)) {
    DepthwiseDims dd(g);
    for (int64_t i = 0; i < g.batch * g.in_channels * g.height * g.width; ++i)
      grad_x[i] = depthwise_input_gradient(dd, grad_y, w, static_cast<int>(i));
    return;
  }
  DgradSetup setup = make_dgrad_setup(g, grad_y, w);
  int groups = static_cast<int>(g.params.groups);
  int64_t phases = static_cast<int64_t>(setup.phases.size());
  GemmPlan plan =
      make_plan(launch.tile, launch.splits, setup.pass.common.gemm_m, setup.max_n, setup.max_k, groups * phases);
  int64_t count = setup.pass.common.split_stride;
  std::vector<float> workspace;
  if (plan.splits > 1) workspace.assign(plan.splits * count, NAN);
  set_dgrad_output(setup, plan.splits > 1 ? workspace.data() : grad_x);
  for (int64_t first = 0; first < phases; first += kMaxPhases) {
    GemmPlan chunk = select_dgrad_phases(setup, plan, groups, first, std::min<int64_t>(kMaxPhases, phases - first));
    emulate(setup.pass, chunk, groups);
  }
  if (plan.splits > 1) reduce(workspace, plan.splits, count, nullptr, 1, 1, grad_x);
}

void backward_weight(const Conv2dGeometry& g, const float* grad_y, const float* x, float* grad_w, Launch launch) {
  if (is_depthwise(g)) {
    DepthwiseDims dd(g);
    for (int64_t block = 0; block < g.out_channels * g.kernel_h * g.kernel_w; ++block) {
      float partial[cuda::kThreads];
      for (int t = 0; t < cuda::kThreads; ++t)
        partial[t] = depthwise_weight_gradient_part(dd, grad_y, x, static_cast<int>(block), t, cuda::kThreads);
      for (int width = cuda::kThreads / 2; width > 0; width /= 2)
        for (int t = 0; t < width; ++t) partial[t] += partial[t + width];
      grad_w[block] = partial[0];
    }
    return;
  }
  WgradPass pass = make_wgrad_pass(g, grad_y, x);
  int groups = static_cast<int>(g.params.groups);
  GemmPlan plan = make_plan(launch.tile, launch.splits, pass.gemm_m, pass.gemm_n, pass.gemm_k, groups);
  std::vector<float> workspace;
  if (plan.splits > 1) workspace.assign(plan.splits * pass.split_stride, NAN);
  set_wgrad_output(pass, plan.splits > 1 ? workspace.data() : grad_w);
  emulate(pass, plan, groups);
  if (plan.splits > 1) reduce(workspace, plan.splits, pass.split_stride, nullptr, 1, 1, grad_w);
}

// Runs the three passes emulated in f32 and by the f64 CPU reference; returns the
// worst normalised error (1 = at the tolerance) and describes it in `report`.
double compare_with_reference(const testing::Conv2dShapeCase& c, Launch launch, std::string& report) {
  const Conv2dParams& p = c.params;
  Conv2dGeometry g = conv2d_geometry("emulation", c.x_shape, c.weight_shape, p);
  Generator gen(42);
  Tensor x = random::normal(c.x_shape, 0, 1, gen, DType::f64);
  Tensor w = random::normal(c.weight_shape, 0, 1, gen, DType::f64);
  Tensor b = c.bias ? random::normal({g.out_channels}, 0, 1, gen, DType::f64) : Tensor();
  Shape y_shape{g.batch, g.out_channels, g.out_height, g.out_width};
  Tensor gy = random::normal(y_shape, 0, 1, gen, DType::f64);
  Tensor y_ref = Tensor::empty(y_shape, DType::f64), gx_ref = Tensor::empty(c.x_shape, DType::f64);
  Tensor gw_ref = Tensor::empty(c.weight_shape, DType::f64);
  cpu::conv2d_forward(x, w, b, p, y_ref);
  cpu::conv2d_backward_data(gy, w, p, gx_ref);
  cpu::conv2d_backward_weight(gy, x, p, gw_ref);

  Tensor xf = x.to(DType::f32), wf = w.to(DType::f32), gyf = gy.to(DType::f32);
  Tensor bf = c.bias ? b.to(DType::f32) : Tensor();
  Tensor y = Tensor::full(y_shape, NAN), gx = Tensor::full(c.x_shape, NAN), gw = Tensor::full(c.weight_shape, NAN);
  forward(g, xf.data<float>(), wf.data<float>(), c.bias ? bf.data<float>() : nullptr, y.data<float>(), launch);
  backward_data(g, gyf.data<float>(), wf.data<float>(), gx.data<float>(), launch);
  backward_weight(g, gyf.data<float>(), xf.data<float>(), gw.data<float>(), launch);
  // f32 sums of up to a few thousand N(0,1) products against an f64 reference.
  double ey = testing::normalised_error(y, y_ref, 1e-3, 1e-3);
  double ex = testing::normalised_error(gx, gx_ref, 1e-3, 1e-3);
  double ew = testing::normalised_error(gw, gw_ref, 1e-3, 1e-3);
  report = c.label + " tile " + std::to_string(launch.tile) + " splits " + std::to_string(launch.splits) +
           ": forward " + std::to_string(ey) + ", data gradient " + std::to_string(ex) + ", weight gradient " +
           std::to_string(ew);
  return std::max({ey, ex, ew});
}

}  // namespace

TEST_CASE("emulated CUDA conv2d matches the CPU reference for every tile shape and split-K", "[conv2d][emulation]") {
  for (const testing::Conv2dShapeCase& c : testing::conv2d_small_shapes()) {
    for (int tile = 0; tile < 4; ++tile) {
      for (int splits : {1, 3}) {
        std::string report;
        double error = compare_with_reference(c, {tile, splits}, report);
        INFO(report);
        CHECK(error <= 1.0);
      }
    }
  }
}

TEST_CASE("emulated CUDA conv2d matches the CPU reference on tile tails and many channels", "[conv2d][emulation]") {
  // Alternating between the largest tile without split-K and the smallest with 4 splits keeps this affordable.
  int index = 0;
  for (const testing::Conv2dShapeCase& c : testing::conv2d_medium_shapes()) {
    Launch launch = index++ % 2 == 0 ? Launch{0, 1} : Launch{3, 4};
    std::string report;
    double error = compare_with_reference(c, launch, report);
    INFO(report);
    CHECK(error <= 1.0);
  }
}

TEST_CASE("conv2d launch plans cover the GEMM and occupy an H100 on ResNet-18 at batch 128", "[conv2d][emulation]") {
  const int sms = 132;
  auto check_plan = [&](const std::string& what, int64_t m, int64_t n, int64_t k, int64_t batches) {
    GemmPlan plan = plan_implicit_gemm(m, n, k, batches, true, sms);
    INFO(what << ": m " << m << " n " << n << " k " << k << " -> tile " << plan.tile << " splits " << plan.splits
              << " k_per_split " << plan.k_per_split);
    CHECK(plan.grid_x * kTiles[plan.tile].bn >= n);
    CHECK(plan.grid_y * kTiles[plan.tile].bm >= m);
    CHECK(plan.grid_z == batches * plan.splits);
    CHECK(static_cast<int64_t>(plan.splits) * plan.k_per_split >= k);
    CHECK(static_cast<int64_t>(plan.splits - 1) * plan.k_per_split < k);  // no empty split
    if (plan.splits > 1) CHECK(plan.k_per_split % kTileK == 0);
    CHECK(plan.grid_x * plan.grid_y * plan.grid_z >= sms / 2);  // no 5-block launch on a 132-SM GPU
    CHECK((plan.splits == 1 || plan.splits * m * n * batches <= (int64_t(1) << 26)));  // workspace <= 256 MB
  };
  // A weight gradient with a huge reduction: split-K is capped by its workspace.
  check_plan("512x4608 weight gradient over 10^7 pixels", 512, 4608, 10000000, 1);
  for (const testing::Conv2dShapeCase& c : testing::resnet18_conv_shapes(128)) {
    Conv2dGeometry g = conv2d_geometry("plan", c.x_shape, c.weight_shape, c.params);
    int64_t taps = g.kernel_h * g.kernel_w, pixels = g.out_height * g.out_width;
    check_plan(c.label + " forward", g.out_channels, g.batch * pixels, g.in_channels * taps, 1);
    DgradSetup setup = make_dgrad_setup(g, nullptr, nullptr);
    check_plan(c.label + " data gradient", g.in_channels, setup.max_n, setup.max_k,
               static_cast<int64_t>(setup.phases.size()));
    check_plan(c.label + " weight gradient", g.out_channels, g.in_channels * taps, g.batch * pixels, 1);
  }
}

TEST_CASE("data-gradient stride phases partition the input and skip no tap", "[conv2d][emulation]") {
  // Stride 2, 3x3, pad 1: even rows receive from tap 1 only, odd rows from taps 0 and 2.
  Conv2dGeometry g = conv2d_geometry("phases", {2, 4, 7, 6}, {8, 4, 3, 3}, Conv2dParams::square(2, 1));
  DgradSetup setup = make_dgrad_setup(g, nullptr, nullptr);
  REQUIRE(setup.phases.size() == 4);
  int64_t pixels = 0, taps = 0;
  for (const DgradPhase& ph : setup.phases) {
    pixels += ph.gemm_n;
    taps += ph.gemm_k / 8;  // per output channel
  }
  CHECK(pixels == 2 * 7 * 6);
  CHECK(taps == 1 * 1 + 1 * 2 + 2 * 1 + 2 * 2);  // (1 + 2) x (1 + 2) = all 9 taps once
  CHECK(setup.phases[0].tap0_h == 1);            // phase (0, 0): tap 1 only
  CHECK(setup.phases[0].gemm_k == 8 * 1 * 1);
  CHECK(setup.phases[3].tap0_h == 0);  // phase (1, 1): taps 0 and 2
  CHECK(setup.phases[3].gemm_k == 8 * 2 * 2);
}

#endif  // ENGRAM_HAS_CUDA
