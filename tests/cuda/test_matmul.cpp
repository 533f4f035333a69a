#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/random.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "tests/support/backend_guard.h"
#include "tests/support/checks.h"

using namespace engram;

// The parity of the case table (tests/cases/matmul.cpp, native and cuBLAS)
// runs in tests/ops/test_op_parity.cpp.

namespace {

// One raw GEMM problem. `offset` shifts A, B and C by that many floats from
// a 256-byte aligned allocation: 1 forces the kernel's scalar load path on
// otherwise aligned shapes.
struct RawCase {
  int64_t batch, m, n, k;
  bool trans_a, trans_b;
  float alpha = 1.f, beta = 0.f;
  int64_t offset = 0;
  bool shared_a = false;  // stride_a = 0: one A for every batch entry (a 1x1 conv's weight)

  std::string describe() const {
    std::ostringstream s;
    s << "gemm " << (trans_a ? "T" : "N") << (trans_b ? "T" : "N") << " batch=" << batch << " m=" << m << " n=" << n
      << " k=" << k << " alpha=" << alpha << " beta=" << beta << " offset=" << offset << (shared_a ? " shared A" : "");
    return s.str();
  }
};

constexpr int64_t kGuard = 64;        // sentinel floats on each side of C
constexpr float kSentinel = 4242.5f;  // a value no product here can produce by chance

// Runs the case with engram::gemm on CUDA (current backend) and with the CPU
// reference on identical inputs; checks the result and that nothing outside
// C was written.
void check_raw_case(const RawCase& rc, Generator& gen) {
  INFO(rc.describe() << " backend " << backend_name(backend(OpFamily::gemm)));
  GemmShape s;
  s.trans_a = rc.trans_a, s.trans_b = rc.trans_b;
  s.m = rc.m, s.n = rc.n, s.k = rc.k, s.batch = rc.batch;
  s.stride_a = rc.shared_a ? 0 : rc.m * rc.k;
  s.stride_b = rc.k * rc.n;
  s.stride_c = rc.m * rc.n;
  const int64_t a_count = rc.shared_a ? rc.m * rc.k : rc.batch * rc.m * rc.k;
  const int64_t b_count = rc.batch * rc.k * rc.n, c_count = rc.batch * rc.m * rc.n;

  auto padded = [&](int64_t count, bool random_values, float fill) {
    std::vector<float> host(static_cast<size_t>(kGuard + rc.offset + count + kGuard), kSentinel);
    std::vector<float> values = random::normal({count}, 0, 1, gen).to_vector<float>();
    for (int64_t i = 0; i < count; ++i) host[kGuard + rc.offset + i] = random_values ? values[i] : fill;
    return host;
  };
  std::vector<float> a = padded(a_count, true, 0), b = padded(b_count, true, 0);
  // With beta = 0, C starts as NaN: a kernel that reads it anyway poisons the result.
  std::vector<float> c = padded(c_count, rc.beta != 0.f, std::numeric_limits<float>::quiet_NaN());
  auto to_gpu = [](const std::vector<float>& v) {
    return Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())}).to(Device::cuda());
  };
  Tensor a_gpu = to_gpu(a), b_gpu = to_gpu(b), c_gpu = to_gpu(c);
  const int64_t start = kGuard + rc.offset;  // kGuard keeps offset 0 on a 16-byte boundary

  gemm<float>(Device::cuda(), s, rc.alpha, a_gpu.data<float>() + start, b_gpu.data<float>() + start, rc.beta,
              c_gpu.data<float>() + start);
  std::vector<float> expected = c;
  cpu::gemm<float>(s, rc.alpha, a.data() + start, b.data() + start, rc.beta, expected.data() + start);
  std::vector<float> got = c_gpu.to_vector<float>();

  int64_t overwritten = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(got.size()); ++i)
    if ((i < start || i >= start + c_count) && got[i] != kSentinel) ++overwritten;
  CHECK(overwritten == 0);
  Shape shape{c_count};
  Tensor got_c =
      Tensor::from_vector<float>(std::vector<float>(got.begin() + start, got.begin() + start + c_count), shape);
  Tensor want_c = Tensor::from_vector<float>(
      std::vector<float>(expected.begin() + start, expected.begin() + start + c_count), shape);
  // FP32 rounding of a length-k dot product grows with k; an indexing bug is off by O(sqrt(k)).
  const double atol = 4e-6 * static_cast<double>(std::max<int64_t>(rc.k, 16));
  const double err = testing::normalised_error(got_c, want_c, atol, 1e-5);
  INFO("normalised error " << err << " (atol " << atol << ")");
  CHECK(err <= 1.0);
}

}  // namespace

TEST_CASE("raw CUDA gemm matches the CPU gemm on edge shapes, never writes outside C", "[matmul][gemm][cuda]") {
  std::vector<RawCase> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      cases.push_back({1, 257, 511, 130, ta, tb});                // 64x64 tiles, split-K, odd sizes
      cases.push_back({3, 257, 511, 130, ta, tb, 2.f, 0.5f});     // batched 64x64 tiles, alpha and beta
      cases.push_back({40, 260, 250, 33, ta, tb});                // 128x128 tiles, batched edge tiles, scalar loads
      cases.push_back({1, 1700, 1500, 36, ta, tb});               // 128x128 edge tiles, 16-byte loads
      cases.push_back({1, 1700, 1500, 33, ta, tb});               // 128x128 edge tiles, scalar loads
      cases.push_back({1, 1536, 1536, 68, ta, tb, 1.f, 1.f});     // 128x128 tiles, 16-byte loads, partial k tile
      cases.push_back({1, 1536, 1536, 68, ta, tb, 1.f, 0.f, 1});  // same shape, misaligned: scalar loads
      cases.push_back({200, 64, 64, 64, ta, tb, 0.5f, 0.f, 0});   // many full batched tiles
      cases.push_back({1, 1, 4096, 1000, ta, tb});                // one row, many splits
      cases.push_back({1, 1000, 1, 300, ta, tb});                 // one column
      cases.push_back({1, 1, 1, 1, ta, tb, 3.f, 2.f});            // 1x1x1
      cases.push_back({2, 5, 3, 1, ta, tb});                      // k = 1
      cases.push_back({1, 64, 64, 0, ta, tb, 1.f, 0.5f});         // k = 0: C = beta * C
      cases.push_back({1, 64, 64, 0, ta, tb, 1.f, 0.f});          // k = 0, beta = 0: C = 0
      cases.push_back({1, 100, 96, 2048, ta, tb, 1.f, 0.f, 1});   // split-K with scalar loads, long k
    }
  cases.push_back({128, 128, 256, 64, false, false, 1.f, 0.f, 0, true});  // 1x1 conv as batched GEMM, shared weight
  cases.push_back({128, 100, 64, 36, false, false, 1.f, 0.f, 1, true});
  Generator gen(99);
  for (Backend b : testing::available_backends(OpFamily::gemm)) {
    testing::BackendGuard guard(OpFamily::gemm, b);
    for (const RawCase& rc : cases) check_raw_case(rc, gen);
  }
}

// cuBLAS exists only in nvcc builds; on the host runtime a 2048^3 product would take far too long anyway.
#if ENGRAM_HAS_CUBLAS
TEST_CASE("native and cuBLAS SGEMM agree on a 2048^3 product", "[matmul][gemm][cuda]") {
  Generator gen(5);
  const int64_t size = 2048;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = random::normal({size, size}, 0, 1, gen, DType::f32, Device::cuda());
      Tensor b = random::normal({size, size}, 0, 1, gen, DType::f32, Device::cuda());
      Tensor native = Tensor::empty({size, size}, DType::f32, Device::cuda());
      Tensor vendor = Tensor::empty({size, size}, DType::f32, Device::cuda());
      GemmShape s;
      s.trans_a = ta, s.trans_b = tb, s.m = s.n = s.k = size;
      cuda::gemm(s, 1.f, a.data<float>(), b.data<float>(), 0.f, native.data<float>());
      vendor::gemm(s, 1.f, a.data<float>(), b.data<float>(), 0.f, vendor.data<float>());
      INFO("trans " << ta << tb);
      // Values are ~sqrt(2048) = 45; summation-order differences stay near 1e-4 absolute.
      CHECK(testing::normalised_error(native, vendor, 1e-2, 1e-4) <= 1.0);
    }
}
#else
TEST_CASE("without cuBLAS the vendor GEMM cannot be selected", "[matmul][gemm][cuda][vendor]") {
  WARN("cuBLAS is not in this build: the native-vs-cuBLAS 2048^3 check did not run");
  CHECK(!vendor_available(OpFamily::gemm));
  CHECK_THROWS_AS(set_backend(OpFamily::gemm, Backend::vendor), DeviceError);
}
#endif

TEST_CASE("CUDA matmul and linear reject mixed devices and f64", "[matmul][cuda][errors]") {
  Tensor cpu_a = Tensor::zeros({2, 3});
  Tensor gpu_b = Tensor::zeros({3, 2}, DType::f32, Device::cuda());
  CHECK_THROWS_AS(matmul(cpu_a, gpu_b), DeviceError);
  CHECK_THROWS_WITH(matmul(cpu_a, gpu_b), Catch::StartsWith("matmul: tensors on different devices"));
  Tensor gpu_a64 = Tensor::zeros({2, 3}, DType::f64, Device::cuda());
  Tensor gpu_b64 = Tensor::zeros({3, 2}, DType::f64, Device::cuda());
  CHECK_THROWS_AS(matmul(gpu_a64, gpu_b64), DTypeError);
  CHECK_THROWS_WITH(matmul(gpu_a64, gpu_b64), Catch::StartsWith("matmul: the CUDA backend computes in f32, got f64"));
  CHECK_THROWS_WITH(
      linear(Tensor::zeros({4, 3}, DType::f32, Device::cuda()), Tensor::zeros({5, 3}), Tensor::zeros({5})),
      Catch::StartsWith("linear: tensors on different devices"));
  GemmShape s;
  s.m = s.n = s.k = 1;
  double value = 0;
  CHECK_THROWS_AS(gemm<double>(Device::cuda(), s, 1.0, &value, &value, 0.0, &value), DTypeError);
}
