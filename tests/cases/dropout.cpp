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
  std::vector<OpCase> cases{
      dropout_case({2, 3, 7, 7}, 0.3, 11), dropout_case({1}, 0.5, 12),    dropout_case({5, 3}, 0.1, 13),
      dropout_case({1, 1, 1, 1}, 0.9, 14), dropout_case({4, 5}, 0.0, 15), dropout_case({13}, 0.3, 16),
      dropout_case({33}, 0.5, 17),         dropout_case({127}, 0.25, 18), dropout_case({2, 1, 3}, 0.4, 19)};
  for (OpCase c : {dropout_case({1000, 1001}, 0.1, 21), dropout_case({4096}, 0.5, 22), dropout_case({3, 5, 7}, 0.9, 23),
                   dropout_case({128, 512}, 0.25, 24), dropout_case({6}, 0.5, 25), dropout_case({7}, 0.5, 26),
                   dropout_case({64, 3, 33, 33}, 0.2, 27), dropout_case({0, 7}, 0.5, 28)})
    cases.push_back(parity_only(c));
  // The scalar kernel on sizes the float4 one would take, and on a tail.
  cases.push_back(unaligned(dropout_case({4, 8}, 0.3, 31)));
  cases.push_back(unaligned(dropout_case({33}, 0.5, 32)));
  cases.push_back(non_finite(dropout_case({3, 5, 7}, 0.3, 33)));
  return cases;
}

}  // namespace engram::testing
