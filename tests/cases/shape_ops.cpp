#include "tests/cases/shape_ops.h"

#include "kernels/shape_ops.h"

namespace engram::testing {

namespace {

OpCase flatten_case(Shape shape, int64_t start_dim) {
  return {"flatten " + shape_str(shape) + " from " + std::to_string(start_dim), normal_inputs({shape}),
          [start_dim](auto& in) { return flatten(in[0], start_dim); }, 1e-6, 1e-6};
}

OpCase concat_case(std::vector<Shape> shapes, int64_t dim) {
  std::string name = "concat dim " + std::to_string(dim);
  for (const Shape& s : shapes) name += " " + shape_str(s);
  return {name, normal_inputs(shapes), [dim](auto& in) { return concat(in, dim); }, 1e-6, 1e-6};  // exact copies
}

}  // namespace

std::vector<OpCase> shape_ops_cases() {
  std::vector<OpCase> cases{flatten_case({2, 3, 4, 5}, 1), flatten_case({2, 3, 4, 5}, 0),
                            flatten_case({2, 3, 4, 5}, -1), flatten_case({2, 3, 4, 5}, 2), flatten_case({7}, 0),
                            concat_case({{2, 3}, {1, 3}, {4, 3}}, 0), concat_case({{2, 3, 7, 7}, {2, 5, 7, 7}}, 1),
                            concat_case({{3, 2}, {3, 5}, {3, 1}}, -1), concat_case({{2, 3, 4}, {2, 3, 1}}, 2),
                            concat_case({{3, 4}}, 1), concat_case({{2, 0, 3}, {2, 4, 3}, {2, 1, 3}}, 1),
                            concat_case({{1, 1}, {1, 1}}, 0),
                            // Odd widths (4-byte words), a piece of 13 columns, size-1 middle dimensions.
                            concat_case({{2, 7}, {2, 13}}, 1), concat_case({{5, 1, 3}, {5, 2, 3}}, 1),
                            concat_case({{0, 3}, {2, 3}}, 0), flatten_case({3, 1, 1, 5}, 1)};

  std::vector<Shape> many_columns, many_rows;
  for (int64_t k = 1; k <= 40; ++k) many_columns.push_back({3, k});
  for (int64_t k = 1; k <= 70; ++k) many_rows.push_back({k % 5, 6});
  for (OpCase c :
       {concat_case({{64, 3, 7, 7}, {64, 5, 7, 7}, {64, 1, 7, 7}}, 1),  // 4-byte words
        concat_case({{128, 16}, {128, 32}}, 1),                         // 16-byte words
        concat_case({{128, 2}, {128, 6}}, 1),                           // 8-byte words
        concat_case({{33}, {5}}, 0), concat_case({{500, 3}, {500, 1}, {500, 4}}, -1),
        concat_case(many_columns, 1),  // 40 pieces: two launches
        concat_case(many_rows, 0),     // 70 pieces, some empty: three launches
        concat_case({{2, 64, 8, 8}, {2, 64, 8, 8}}, 0), flatten_case({128, 64, 7, 7}, 1),
        // A batch of 0: no rows to copy (and an empty whole).
        concat_case({{0, 3}, {0, 5}}, 1), concat_case({{0, 2, 4}, {0, 2, 4}}, 0), flatten_case({0, 3, 4}, 1)})
    cases.push_back(parity_only(c));
  // 16-byte rows that start 4 bytes off: the copy falls back to 4-byte words.
  cases.push_back(unaligned(concat_case({{4, 4}, {4, 8}}, 1)));
  cases.push_back(unaligned(concat_case({{3, 2}, {3, 6}}, 1)));
  cases.push_back(non_finite(concat_case({{2, 3}, {2, 5}}, 1)));
  cases.push_back(non_finite(concat_case({{3, 4}, {2, 4}}, 0), 3));
  cases.push_back(non_finite(flatten_case({2, 3, 4}, 1)));
  return cases;
}

}  // namespace engram::testing
