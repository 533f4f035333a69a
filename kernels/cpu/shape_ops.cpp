#include "kernels/shape_ops.h"

#include <cstring>

#include "core/parallel.h"

namespace engram::cpu {

namespace {

// Copies each piece's rows between the piece and its column block of `whole`.
template <bool ToWhole>
void copy_pieces(const Tensor& whole, int64_t outer, const std::vector<Tensor>& pieces) {
  if (outer == 0 || whole.numel() == 0) return;
  size_t element = dtype_size(whole.dtype());
  size_t whole_row = static_cast<size_t>(whole.numel() / outer) * element;
  auto* whole_bytes = static_cast<char*>(whole.raw_data());
  parallel_for(outer, [&](int64_t o) {
    size_t offset = 0;
    for (const Tensor& piece : pieces) {
      size_t row = static_cast<size_t>(piece.numel() / outer) * element;
      char* piece_row = static_cast<char*>(piece.raw_data()) + o * row;
      char* whole_part = whole_bytes + o * whole_row + offset;
      if (row > 0) {
        if (ToWhole)
          std::memcpy(whole_part, piece_row, row);
        else
          std::memcpy(piece_row, whole_part, row);
      }
      offset += row;
    }
  });
}

}  // namespace

void concat(const std::vector<Tensor>& pieces, int64_t outer, const Tensor& out) {
  copy_pieces<true>(out, outer, pieces);
}

void split(const Tensor& whole, int64_t outer, const std::vector<Tensor>& pieces) {
  copy_pieces<false>(whole, outer, pieces);
}

}  // namespace engram::cpu
