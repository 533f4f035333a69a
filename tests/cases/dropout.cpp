#include "tests/cases/dropout.h"

#include "kernels/dropout.h"

namespace engram::testing {

namespace {

OpCase dropout_case(Shape shape, double p, uint64_t seed) {
  std::string name = "dropout p=" + std::to_string(p).substr(0, 4) + " " + shape_str(shape);
  return {name, normal_inputs({shape}),
          [p, seed](auto& in) {
            Generator gen(seed);
            return dropout(in[0], p, true, gen);
          },
          1e-6, 1e-6};  // CPU and CUDA compute the same float products: they agree to the last bit
}

}  // namespace

std::vector<OpCase> dropout_cases() {
  return {dropout_case({2, 3, 7, 7}, 0.3, 11), dropout_case({1}, 0.5, 12), dropout_case({5, 3}, 0.1, 13),
          dropout_case({1, 1, 1, 1}, 0.9, 14), dropout_case({4, 5}, 0.0, 15)};
}

std::vector<OpCase> dropout_parity_cases() {
  return {dropout_case({1000, 1001}, 0.1, 21),   dropout_case({4096}, 0.5, 22), dropout_case({3, 5, 7}, 0.9, 23),
          dropout_case({128, 512}, 0.25, 24),    dropout_case({6}, 0.5, 25),    dropout_case({7}, 0.5, 26),
          dropout_case({64, 3, 33, 33}, 0.2, 27)};
}

}  // namespace engram::testing
