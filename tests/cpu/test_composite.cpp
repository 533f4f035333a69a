// A small network end to end: conv -> batch-norm -> relu -> max-pool ->
// flatten -> linear -> cross-entropy, differentiated through every op at once.
#include <catch2/catch.hpp>

#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/matmul.h"
#include "kernels/pool.h"
#include "kernels/shape_ops.h"
#include "tests/support/checks.h"

using namespace engram;

namespace {

testing::OpCase small_net_case() {
  testing::OpCase c;
  c.name = "conv-bn-relu-pool-linear-CE";
  c.make_inputs = [](DType dtype, Generator& gen) {
    std::vector<Tensor> in = {
        random::normal({3, 2, 6, 6}, 0, 1, gen, dtype).requires_grad_(),     // x
        random::normal({4, 2, 3, 3}, 0, 0.5, gen, dtype).requires_grad_(),   // conv weight
        random::normal({4}, 0, 0.5, gen, dtype).requires_grad_(),            // conv bias
        random::normal({4}, 1, 0.2, gen, dtype).requires_grad_(),            // bn weight
        random::normal({4}, 0, 0.2, gen, dtype).requires_grad_(),            // bn bias
        random::normal({5, 4 * 3 * 3}, 0, 0.3, gen, dtype).requires_grad_(), // linear weight
        random::normal({5}, 0, 0.3, gen, dtype).requires_grad_(),            // linear bias
        Tensor::from_vector<int32_t>({0, 4, 2}, {3}),                        // labels
    };
    return in;
  };
  c.run = [](const std::vector<Tensor>& in) {
    Tensor running_mean = Tensor::zeros({4}, in[0].dtype(), in[0].device());
    Tensor running_var = Tensor::ones({4}, in[0].dtype(), in[0].device());
    Tensor h = conv2d(in[0], in[1], in[2], Conv2dParams::square(1, 1));
    h = relu(batch_norm2d(h, in[3], in[4], running_mean, running_var, /*training=*/true));
    h = flatten(max_pool2d(h, 2, 2), 1);
    return cross_entropy(linear(h, in[5], in[6]), in[7]);
  };
  c.gradcheck_tolerance = 1e-5;
  c.parity_tolerance = 1e-3;
  return c;
}

}  // namespace

TEST_CASE("a composite net's gradients match central differences in double", "[composite][gradcheck]") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto result = testing::gradcheck(small_net_case(), seed);
    INFO(result.report);
    CHECK(result.ok);
  }
}
