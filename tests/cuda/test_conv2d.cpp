#include <catch2/catch.hpp>
#include <cmath>

#include "core/random.h"
#include "kernels/conv2d.h"
#include "kernels/dispatch.h"
#include "tests/cases/conv2d.h"
#include "tests/support/backend_guard.h"
#include "tests/support/checks.h"

using namespace engram;

// The parity of the case table (tests/cases/conv2d.cpp: small, medium and
// ResNet-18 shapes at batch 2; native and cuDNN) runs in tests/ops/test_op_parity.cpp.

// At the benchmark's batch the launch plans differ from batch 2 (tile shapes,
// split-K, stride phases in one launch); cuDNN is the reference there, the CPU
// would be too slow.
#if ENGRAM_HAS_CUDNN
TEST_CASE("conv2d: native CUDA matches cuDNN on ResNet-18 layers at batch 128", "[conv2d][cuda][vendor]") {
  for (const testing::Conv2dShapeCase& shape : testing::resnet18_conv_shapes(128)) {
    Generator gen(99);
    const Conv2dParams& params = shape.params;
    Tensor x = random::normal(shape.x_shape, 0, 1, gen, DType::f32, Device::cuda());
    Tensor w = random::normal(shape.weight_shape, 0, 1, gen, DType::f32, Device::cuda());
    Conv2dGeometry g = conv2d_geometry("test", x.shape(), w.shape(), params);
    Tensor gy =
        random::normal({g.batch, g.out_channels, g.out_height, g.out_width}, 0, 1, gen, DType::f32, Device::cuda());
    Tensor y[2], gx[2], gw[2];
    for (int v = 0; v < 2; ++v) {
      y[v] = Tensor::empty(gy.shape(), DType::f32, Device::cuda());
      gx[v] = Tensor::empty(x.shape(), DType::f32, Device::cuda());
      gw[v] = Tensor::empty(w.shape(), DType::f32, Device::cuda());
    }
    cuda::conv2d_forward(x, w, Tensor(), params, y[0]);
    cuda::conv2d_backward_data(gy, w, params, gx[0]);
    cuda::conv2d_backward_weight(gy, x, params, gw[0]);
    vendor::conv2d_forward(x, w, Tensor(), params, y[1]);
    vendor::conv2d_backward_data(gy, w, params, gx[1]);
    vendor::conv2d_backward_weight(gy, x, params, gw[1]);
    // Tolerances grow with each pass's reduction length, as in the case table.
    auto tolerance = [](double length) { return std::max(1e-4, 4 * 2e-5 * std::sqrt(length)); };
    double taps = static_cast<double>(g.kernel_h * g.kernel_w);
    double forward_tol = tolerance(g.in_channels * taps);
    double data_tol = tolerance(g.out_channels * taps);
    double weight_tol = tolerance(static_cast<double>(g.batch * g.out_height * g.out_width));
    INFO(shape.label);
    CHECK(testing::normalised_error(y[0], y[1], forward_tol, forward_tol) <= 1.0);
    CHECK(testing::normalised_error(gx[0], gx[1], data_tol, data_tol) <= 1.0);
    CHECK(testing::normalised_error(gw[0], gw[1], weight_tol, weight_tol) <= 1.0);
  }
}
#else
TEST_CASE("without cuDNN the vendor convolution cannot be selected", "[conv2d][cuda][vendor]") {
  WARN("cuDNN is not in this build: the native-vs-cuDNN check at batch 128 did not run");
  CHECK(!vendor_available(OpFamily::conv));
  CHECK_THROWS_AS(set_backend(OpFamily::conv, Backend::vendor), DeviceError);
}
#endif

TEST_CASE("conv2d: CUDA gradients are deterministic (split-K reduced in order, no atomics)", "[conv2d][cuda]") {
  testing::BackendGuard native(OpFamily::conv, Backend::native);
  Generator gen(5);
  Tensor x = random::normal({32, 64, 16, 16}, 0, 1, gen, DType::f32, Device::cuda());
  Tensor w = random::normal({64, 64, 3, 3}, 0, 1, gen, DType::f32, Device::cuda());
  Tensor gy = random::normal({32, 64, 8, 8}, 0, 1, gen, DType::f32, Device::cuda());
  Conv2dParams p = Conv2dParams::square(2, 1);
  Tensor gw1 = Tensor::empty(w.shape(), DType::f32, Device::cuda()), gw2 = gw1.clone();
  Tensor gx1 = Tensor::empty(x.shape(), DType::f32, Device::cuda()), gx2 = gx1.clone();
  cuda::conv2d_backward_weight(gy, x, p, gw1);
  cuda::conv2d_backward_weight(gy, x, p, gw2);
  cuda::conv2d_backward_data(gy, w, p, gx1);
  cuda::conv2d_backward_data(gy, w, p, gx2);
  CHECK(gw1.to_vector<float>() == gw2.to_vector<float>());
  CHECK(gx1.to_vector<float>() == gx2.to_vector<float>());
}

TEST_CASE("conv2d: CUDA rejects mixed devices and f64", "[conv2d][cuda][errors]") {
  Tensor x = Tensor::zeros({1, 2, 5, 5}, DType::f32, Device::cuda());
  Tensor w = Tensor::zeros({3, 2, 3, 3});
  CHECK_THROWS_AS(conv2d(x, w, Tensor()), DeviceError);
  CHECK_THROWS_WITH(conv2d(x, w, Tensor()), Catch::StartsWith("conv2d: tensors on different devices"));
  CHECK_THROWS_AS(conv2d(x, w.to(Device::cuda()), Tensor::zeros({3})), DeviceError);
  Tensor x64 = Tensor::zeros({1, 2, 5, 5}, DType::f64, Device::cuda());
  CHECK_THROWS_AS(conv2d(x64, Tensor::zeros({3, 2, 3, 3}, DType::f64, Device::cuda()), Tensor()), DTypeError);
  CHECK_THROWS_WITH(conv2d(x64, Tensor::zeros({3, 2, 3, 3}, DType::f64, Device::cuda()), Tensor()),
                    Catch::StartsWith("conv2d: the CUDA backend computes in f32, got f64"));
}
