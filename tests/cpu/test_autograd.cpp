#include <catch2/catch.hpp>

#include "core/autograd.h"
#include "kernels/elementwise.h"

using namespace engram;

namespace {
Tensor vec(std::vector<double> v) { return Tensor::from_vector<double>(v, {static_cast<int64_t>(v.size())}); }
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST_CASE("backward through a chain reaches leaves", "[autograd]") {
  Tensor x = vec({1, 2, 3}).requires_grad_();
  Tensor w = vec({4, 5, 6}).requires_grad_();
  Tensor y = scale(mul(x, w), 2.0);  // y = 2 x w
  y.backward(vec({1, 1, 1}));
  CHECK(values(x.grad()) == std::vector<double>{8, 10, 12});
  CHECK(values(w.grad()) == std::vector<double>{2, 4, 6});
  CHECK(x.is_leaf());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.grad_fn()->op == "scale");
}

TEST_CASE("a leaf used twice gets the sum of both paths", "[autograd]") {
  Tensor x = vec({1, -2}).requires_grad_();
  Tensor y = mul(x, x);  // dy/dx = 2x
  y.backward(vec({1, 1}));
  CHECK(values(x.grad()) == std::vector<double>{2, -4});
}

TEST_CASE("shared subexpressions are differentiated once per use", "[autograd]") {
  Tensor x = vec({3}).requires_grad_();
  Tensor s = mul(x, x);         // x^2
  Tensor z = add(s, mul(s, x)); // x^2 + x^3 -> 2x + 3x^2 = 33
  z.backward(vec({1}));
  CHECK(values(x.grad()) == std::vector<double>{33});
}

TEST_CASE("gradients accumulate across backward calls until cleared", "[autograd]") {
  Tensor x = vec({1, 2}).requires_grad_();
  scale(x, 3).backward(vec({1, 1}));
  scale(x, 3).backward(vec({1, 1}));
  CHECK(values(x.grad()) == std::vector<double>{6, 6});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  scale(x, 3).backward(vec({1, 1}));
  CHECK(values(x.grad()) == std::vector<double>{3, 3});
}

TEST_CASE("the leaf's gradient never aliases another gradient", "[autograd]") {
  Tensor a = vec({1}).requires_grad_();
  Tensor b = vec({1}).requires_grad_();
  Tensor y = add(a, b);  // add's backward hands the same tensor to both
  y.backward(vec({1}));
  y = add(a, b);
  y.backward(vec({1}));
  CHECK(values(a.grad()) == std::vector<double>{2});
  CHECK(values(b.grad()) == std::vector<double>{2});
}

TEST_CASE("no_grad records nothing and restores the mode", "[autograd]") {
  Tensor x = vec({1}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = scale(x, 2);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    CHECK_FALSE(autograd::grad_enabled());
  }
  CHECK(autograd::grad_enabled());
  CHECK(scale(x, 2).requires_grad());
}

TEST_CASE("ops on tensors that need no grad record nothing", "[autograd]") {
  Tensor y = add(vec({1}), vec({2}));
  CHECK_FALSE(y.requires_grad());
  CHECK_THROWS_AS(y.backward(), AutogradError);
}

TEST_CASE("detach cuts the graph", "[autograd]") {
  Tensor x = vec({2}).requires_grad_();
  Tensor y = mul(x, scale(x, 1).detach());  // treated as x * const
  y.backward(vec({1}));
  CHECK(values(x.grad()) == std::vector<double>{2});
}

TEST_CASE("backward frees the graph unless asked to retain it", "[autograd]") {
  Tensor x = vec({1}).requires_grad_();
  Tensor y = scale(x, 5);
  y.backward(vec({1}), /*retain_graph=*/true);
  y.backward(vec({1}));
  CHECK(values(x.grad()) == std::vector<double>{10});
  CHECK_THROWS_WITH(y.backward(vec({1})), Catch::Contains("already freed") && Catch::Contains("scale"));
}

TEST_CASE("backward needs a gradient for non-scalars and checks its shape", "[autograd][errors]") {
  Tensor x = vec({1, 2}).requires_grad_();
  Tensor y = scale(x, 2);
  CHECK_THROWS_AS(y.backward(), AutogradError);
  CHECK_THROWS_AS(y.backward(vec({1, 2, 3})), ShapeError);
  Tensor s = scale(vec({3}).requires_grad_(), 2);
  s.backward();  // one element: the seed is 1
}

TEST_CASE("reshape is differentiable and requires_grad_ only on leaves", "[autograd]") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor y = scale(x.reshape({4}), 3);
  y.backward(vec({1, 2, 3, 4}));
  CHECK(x.grad().shape() == Shape{2, 2});
  CHECK(values(x.grad()) == std::vector<double>{3, 6, 9, 12});
  CHECK_THROWS_AS(y.requires_grad_(), AutogradError);
}

TEST_CASE("a graph is released when its output goes away", "[autograd]") {
  Tensor x = vec({1}).requires_grad_();
  std::weak_ptr<Node> node;
  {
    Tensor y = relu(scale(x, 2));  // relu saves its own output, detached
    node = y.grad_fn();
    CHECK_FALSE(node.expired());
  }
  CHECK(node.expired());
}
