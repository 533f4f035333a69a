#include <catch2/catch.hpp>

#include "core/tensor.h"

using namespace engram;

TEST_CASE("tensor factories set shape, dtype, device and values", "[tensor]") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dim() == 2);
  CHECK(z.numel() == 6);
  CHECK(z.dtype() == DType::f32);
  CHECK(z.device() == Device::cpu());
  CHECK(z.strides() == Shape{3, 1});
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(Tensor::ones({4}, DType::f64).to_vector<double>() == std::vector<double>(4, 1.0));
  CHECK(Tensor::full({2}, 7, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{7, 7});
  CHECK(Tensor::full({3}, 255, DType::u8).to_vector<uint8_t>() == std::vector<uint8_t>{255, 255, 255});
  Tensor s = Tensor::scalar(2.5);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item<float>() == 2.5f);
}

TEST_CASE("element access and from_vector agree on row-major order", "[tensor]") {
  Tensor t = Tensor::from_vector<int32_t>({0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK(t.at<int32_t>({0, 2}) == 2);
  CHECK(t.at<int32_t>({1, 0}) == 3);
  CHECK(t.size(-1) == 3);
  CHECK(t.size(0) == 2);
  CHECK_THROWS_AS(t.at<int32_t>({2, 0}), ShapeError);
  CHECK_THROWS_AS(t.at<int32_t>({0}), ShapeError);
  CHECK_THROWS_AS(t.size(2), ShapeError);
  CHECK_THROWS_AS(t.data<float>(), DTypeError);
}

TEST_CASE("clone and dtype conversion copy; reshape and narrow share storage", "[tensor]") {
  Tensor a = Tensor::from_vector<float>({1.5f, -2.5f, 3, 4}, {2, 2});
  Tensor c = a.clone();
  c.fill_(0);
  CHECK(a.to_vector<float>() == std::vector<float>{1.5f, -2.5f, 3, 4});

  CHECK(a.to(DType::f64).to_vector<double>() == std::vector<double>{1.5, -2.5, 3, 4});
  CHECK(a.to(DType::i32).to_vector<int32_t>() == std::vector<int32_t>{1, -2, 3, 4});

  Tensor r = a.reshape({4});
  r.data<float>()[0] = 9;
  CHECK(a.at<float>({0, 0}) == 9);
  CHECK(a.reshape({-1, 1}).shape() == Shape{4, 1});
  CHECK_THROWS_AS(a.reshape({3}), ShapeError);
  CHECK_THROWS_AS(a.reshape({-1, -1}), ShapeError);

  Tensor row = a.narrow_rows(1, 1);
  CHECK(row.shape() == Shape{1, 2});
  CHECK(row.to_vector<float>() == std::vector<float>{3, 4});
  row.fill_(-1);
  CHECK(a.to_vector<float>() == std::vector<float>{9, -2.5f, -1, -1});
  CHECK_THROWS_AS(a.narrow_rows(1, 2), ShapeError);
}

TEST_CASE("copy_ checks shape and dtype", "[tensor]") {
  Tensor a = Tensor::zeros({2, 2});
  a.copy_(Tensor::ones({2, 2}));
  CHECK(a.to_vector<float>() == std::vector<float>(4, 1.0f));
  CHECK_THROWS_AS(a.copy_(Tensor::ones({4})), ShapeError);
  CHECK_THROWS_AS(a.copy_(Tensor::ones({2, 2}, DType::f64)), DTypeError);
}

TEST_CASE("repr shows shape, dtype, device and nested values", "[tensor]") {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  std::string s = t.repr();
  CHECK_THAT(s, Catch::Contains("shape=[2, 2]") && Catch::Contains("dtype=f32") && Catch::Contains("device=cpu"));
  CHECK_THAT(s, Catch::Contains("[[1, 2],\n[3, 4]]"));
  CHECK_THAT(Tensor::zeros({100}).repr(8), Catch::Contains("92 more"));
  CHECK(Tensor().repr() == "Tensor(undefined)");
}

TEST_CASE("misuse of tensors throws named errors", "[tensor][errors]") {
  Tensor undefined;
  CHECK_THROWS_AS(undefined.shape(), ValueError);
  CHECK_THROWS_WITH(undefined.numel(), Catch::Contains("undefined"));
  CHECK_THROWS_AS(Tensor::zeros({2, -1}), ShapeError);
  CHECK_THROWS_AS(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), ShapeError);
  CHECK_THROWS_AS(Tensor::zeros({2}, DType::i32).requires_grad_(), DTypeError);
  CHECK_THROWS_AS(Tensor::zeros({2}).item<float>(), ShapeError);
  CHECK_THROWS_AS(Device::parse("gpu"), ValueError);
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK(Device::parse("cpu") == Device::cpu());
}

#if !ENGRAM_HAS_CUDA
TEST_CASE("a CPU-only build refuses CUDA tensors with a clear error", "[tensor][errors]") {
  CHECK_THROWS_AS(Tensor::zeros({2}, DType::f32, Device::cuda()), DeviceError);
  CHECK_FALSE(cuda_available());
}
#endif
