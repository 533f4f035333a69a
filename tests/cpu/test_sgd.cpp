#include <catch2/catch.hpp>
#include <limits>

#include "core/random.h"
#include "kernels/sgd.h"

using namespace engram;

namespace {

// Runs `steps` SGD steps on one scalar parameter p0 with a constant gradient
// g and returns p after each step.
std::vector<double> run_steps(double p0, double g, const SgdConfig& config, int steps) {
  Tensor p = Tensor::full({1}, p0, DType::f64);
  Tensor grad = Tensor::full({1}, g, DType::f64);
  Tensor buffer = Tensor::zeros({1}, DType::f64);
  std::vector<double> trace;
  for (int step = 0; step < steps; ++step) {
    sgd_step({p}, {grad}, {buffer}, config, step == 0);
    trace.push_back(p.item<double>());
  }
  return trace;
}

SgdConfig config(double lr, double momentum = 0, double dampening = 0, double weight_decay = 0, bool nesterov = false) {
  SgdConfig c;
  c.lr = lr;
  c.momentum = momentum;
  c.dampening = dampening;
  c.weight_decay = weight_decay;
  c.nesterov = nesterov;
  return c;
}

void check_trace(const std::vector<double>& actual, const std::vector<double>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) CHECK(actual[i] == Approx(expected[i]).epsilon(1e-12));
}

}  // namespace

// The expected sequences below were worked out by hand from PyTorch's formula.
TEST_CASE("plain SGD: p -= lr * g", "[sgd]") {
  Tensor p = Tensor::from_vector<double>({1, -2}, {2});
  Tensor g = Tensor::from_vector<double>({0.5, 0.25}, {2});
  sgd_step({p}, {g}, {}, config(0.1), true);
  CHECK(p.to_vector<double>() == std::vector<double>{0.95, -2.025});
  check_trace(run_steps(1.0, 1.0, config(0.1), 3), {0.9, 0.8, 0.7});
}

TEST_CASE("momentum: buf = m * buf + g, first step buf = g", "[sgd]") {
  // bufs 1, 1.9, 2.71
  check_trace(run_steps(1.0, 1.0, config(0.1, 0.9), 3), {0.9, 0.71, 0.439});
}

TEST_CASE("dampening scales the new gradient after the first step", "[sgd]") {
  // bufs 1 (no dampening on the first step), 0.9 + 0.5 = 1.4, 1.26 + 0.5 = 1.76
  check_trace(run_steps(1.0, 1.0, config(0.1, 0.9, 0.5), 3), {0.9, 0.76, 0.584});
}

TEST_CASE("nesterov: d = g + m * buf", "[sgd]") {
  // bufs 1, 1.9, 2.71; steps 1.9, 2.71, 3.439
  check_trace(run_steps(1.0, 1.0, config(0.1, 0.9, 0, 0, true), 3), {0.81, 0.539, 0.1951});
}

TEST_CASE("weight decay adds wd * p to the gradient before momentum", "[sgd]") {
  // d = 0.7, 0.693, 0.67977; bufs 0.7, 1.323, 1.87047
  check_trace(run_steps(2.0, 0.5, config(0.1, 0.9, 0, 0.1), 3), {1.93, 1.7977, 1.610653});
  // Without momentum: p *= (1 - lr * wd) when g = 0.
  check_trace(run_steps(2.0, 0.0, config(0.5, 0, 0, 0.1), 2), {1.9, 1.805});
}

TEST_CASE("sgd_step updates several tensors and their buffers", "[sgd]") {
  Tensor p1 = Tensor::from_vector<float>({1, 2, 3}, {3});
  Tensor p2 = Tensor::from_vector<float>({4, 5, 6, 7, 8, 9}, {2, 3});
  Tensor empty = Tensor::zeros({0});
  Tensor g1 = Tensor::from_vector<float>({1, 1, 1}, {3});
  Tensor g2 = Tensor::from_vector<float>({2, 2, 2, 2, 2, 2}, {2, 3});
  // The first step ignores whatever the buffers hold.
  Tensor b1 = Tensor::full({3}, std::numeric_limits<double>::quiet_NaN());
  Tensor b2 = Tensor::full({2, 3}, std::numeric_limits<double>::quiet_NaN());
  Tensor b_empty = Tensor::zeros({0});
  SgdConfig c = config(0.5, 0.5);
  sgd_step({p1, empty, p2}, {g1, Tensor::zeros({0}), g2}, {b1, b_empty, b2}, c, true);
  CHECK(p1.to_vector<float>() == std::vector<float>{0.5f, 1.5f, 2.5f});
  CHECK(p2.to_vector<float>() == std::vector<float>{3, 4, 5, 6, 7, 8});
  CHECK(b1.to_vector<float>() == std::vector<float>{1, 1, 1});
  sgd_step({p1, empty, p2}, {g1, Tensor::zeros({0}), g2}, {b1, b_empty, b2}, c, false);
  CHECK(b1.to_vector<float>() == std::vector<float>{1.5f, 1.5f, 1.5f});
  CHECK(b2.to_vector<float>() == std::vector<float>{3, 3, 3, 3, 3, 3});
  CHECK(p1.to_vector<float>() == std::vector<float>{-0.25f, 0.75f, 1.75f});
  CHECK(p2.to_vector<float>() == std::vector<float>{1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f});
  sgd_step({}, {}, {}, c, false);  // nothing to do
}

TEST_CASE("f32 steps follow the f64 reference", "[sgd]") {
  Generator gen(8);
  Tensor p64 = random::normal({1000}, 0.0, 1.0, gen, DType::f64), p32 = p64.to(DType::f32);
  Tensor g64 = random::normal({1000}, 0.0, 1.0, gen, DType::f64), g32 = g64.to(DType::f32);
  Tensor b64 = Tensor::zeros({1000}, DType::f64), b32 = Tensor::zeros({1000});
  SgdConfig c = config(0.05, 0.9, 0, 5e-4, true);
  for (int step = 0; step < 5; ++step) {
    sgd_step({p64}, {g64}, {b64}, c, step == 0);
    sgd_step({p32}, {g32}, {b32}, c, step == 0);
  }
  std::vector<double> expected = p64.to_vector<double>();
  std::vector<float> actual = p32.to_vector<float>();
  for (size_t i = 0; i < expected.size(); ++i) REQUIRE(actual[i] == Approx(expected[i]).margin(1e-5));
}

TEST_CASE("sgd_step rejects bad arguments before touching anything", "[sgd][errors]") {
  Tensor p = Tensor::ones({3}), g = Tensor::ones({3}), b = Tensor::zeros({3});
  SgdConfig c = config(0.1, 0.9);
  CHECK_THROWS_WITH(sgd_step({p}, {}, {b}, c, true),
                    Catch::StartsWith("sgd_step:") && Catch::Contains("one gradient per parameter"));
  CHECK_THROWS_WITH(sgd_step({p}, {g}, {}, c, true), Catch::StartsWith("sgd_step:") && Catch::Contains("buffer"));
  CHECK_THROWS_WITH(sgd_step({p}, {Tensor::ones({4})}, {b}, c, true),
                    Catch::StartsWith("sgd_step:") && Catch::Contains("grads[0]") && Catch::Contains("[4]"));
  CHECK_THROWS_AS(sgd_step({p}, {Tensor::ones({3}, DType::f64)}, {b}, c, true), DTypeError);
  CHECK_THROWS_AS(sgd_step({p}, {g}, {Tensor::zeros({1, 3})}, c, true), ShapeError);
  CHECK_THROWS_AS(sgd_step({p}, {Tensor()}, {b}, c, true), ValueError);
  CHECK_THROWS_AS(sgd_step({Tensor::ones({3}, DType::i32)}, {g}, {b}, c, true), DTypeError);
  CHECK_THROWS_WITH(sgd_step({p}, {g}, {b}, config(-0.1), true),
                    Catch::StartsWith("sgd_step:") && Catch::Contains("lr"));
  CHECK_THROWS_AS(sgd_step({p}, {g}, {b}, config(0.1, -0.5), true), ValueError);
  CHECK_THROWS_AS(sgd_step({p}, {g}, {b}, config(0.1, 0.9, 0, -1), true), ValueError);
  CHECK_THROWS_WITH(sgd_step({p}, {g}, {b}, config(0.1, 0.9, 0.1, 0, true), true),
                    Catch::StartsWith("sgd_step:") && Catch::Contains("nesterov"));
  CHECK_THROWS_AS(sgd_step({p}, {g}, {b}, config(0.1, 0, 0, 0, true), true), ValueError);
  CHECK_THROWS_AS(sgd_step({p}, {g}, {b}, config(std::numeric_limits<double>::quiet_NaN()), true), ValueError);
  // A bad second parameter leaves the first one untouched.
  CHECK_THROWS_AS(sgd_step({p, Tensor::ones({2})}, {g, g}, {b, b}, c, true), ShapeError);
  CHECK(p.to_vector<float>() == std::vector<float>{1, 1, 1});
}
