// concat and its backward (split) as one copy kernel. The pieces travel in a
// kernel parameter (up to kMaxPieces per launch, more are chunked into
// further launches), blockIdx.y picks the piece, and the copy moves raw words
// of the widest size (16, 8, 4, 2 or 1 bytes) that every row, column offset
// and pointer of the launch is a multiple of, so channel concats of NCHW maps
// whose planes hold a multiple of 4 floats move 16 bytes per thread.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/shape_ops.h"

namespace engram::cuda {
namespace {

constexpr int kMaxPieces = 32;
constexpr unsigned kMaxBlocksPerPiece = 2048;

// Rows, offsets and the whole's row length are in words of the launch's size.
struct PieceList {
  void* data[kMaxPieces];
  int64_t row[kMaxPieces];     // words per row of the piece
  int64_t offset[kMaxPieces];  // first column of the piece in the whole's rows
};

// Index is uint32_t when the whole fits: 64-bit divisions cost more than the copy.
template <typename Word, typename Index, bool ToWhole>
__global__ void concat_copy_kernel(PieceList pieces, Word* whole, Index outer, Index whole_row) {
  int k = blockIdx.y;
  Word* piece = static_cast<Word*>(pieces.data[k]);
  Index row = static_cast<Index>(pieces.row[k]), offset = static_cast<Index>(pieces.offset[k]);
  Index total = outer * row;
  for (Index e = Index(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += Index(blockDim.x) * gridDim.x) {
    Index o = e / row;
    Word* w = whole + o * whole_row + offset + (e - o * row);
    if (ToWhole)
      *w = piece[e];
    else
      piece[e] = *w;
  }
}

template <typename Word, bool ToWhole>
void launch_words(const PieceList& list, int count, void* whole, int64_t outer, int64_t whole_row, int64_t longest) {
  dim3 grid(std::min(blocks_for(outer * longest), kMaxBlocksPerPiece), static_cast<unsigned>(count));
  // The grid strides at most 2048 * 256 words past the end: no 32-bit overflow below 2^31 words.
  if (outer * whole_row <= (int64_t(1) << 31))
    launch("concat_copy_kernel", concat_copy_kernel<Word, uint32_t, ToWhole>, grid, kThreads, 0, list,
           static_cast<Word*>(whole), static_cast<uint32_t>(outer), static_cast<uint32_t>(whole_row));
  else
    launch("concat_copy_kernel", concat_copy_kernel<Word, int64_t, ToWhole>, grid, kThreads, 0, list,
           static_cast<Word*>(whole), outer, whole_row);
}

// The pieces of one launch, measured in bytes.
struct Batch {
  std::vector<void*> data;
  std::vector<int64_t> row_bytes, offset_bytes;
};

int64_t widest_word(const Batch& batch, const void* whole, int64_t whole_row_bytes) {
  uint64_t all = reinterpret_cast<uintptr_t>(whole) | static_cast<uint64_t>(whole_row_bytes);
  for (size_t k = 0; k < batch.data.size(); ++k)
    all |= reinterpret_cast<uintptr_t>(batch.data[k]) | static_cast<uint64_t>(batch.row_bytes[k]) |
           static_cast<uint64_t>(batch.offset_bytes[k]);
  for (int64_t word = 16; word > 1; word /= 2)
    if (all % word == 0) return word;
  return 1;
}

template <bool ToWhole>
void launch_batch(const Batch& batch, void* whole, int64_t outer, int64_t whole_row_bytes) {
  if (batch.data.empty()) return;
  int64_t word = widest_word(batch, whole, whole_row_bytes);
  PieceList list{};
  int64_t longest = 0;
  for (size_t k = 0; k < batch.data.size(); ++k) {
    list.data[k] = batch.data[k];
    list.row[k] = batch.row_bytes[k] / word;
    list.offset[k] = batch.offset_bytes[k] / word;
    longest = std::max(longest, list.row[k]);
  }
  int count = static_cast<int>(batch.data.size());
  int64_t whole_row = whole_row_bytes / word;
  switch (word) {
    case 16: launch_words<uint4, ToWhole>(list, count, whole, outer, whole_row, longest); break;
    case 8: launch_words<uint64_t, ToWhole>(list, count, whole, outer, whole_row, longest); break;
    case 4: launch_words<uint32_t, ToWhole>(list, count, whole, outer, whole_row, longest); break;
    case 2: launch_words<uint16_t, ToWhole>(list, count, whole, outer, whole_row, longest); break;
    default: launch_words<uint8_t, ToWhole>(list, count, whole, outer, whole_row, longest); break;
  }
}

template <bool ToWhole>
void copy_pieces(const Tensor& whole, int64_t outer, const std::vector<Tensor>& pieces) {
  if (outer == 0 || whole.numel() == 0) return;
  int64_t element = static_cast<int64_t>(dtype_size(whole.dtype()));
  int64_t whole_row_bytes = whole.numel() / outer * element;
  Batch batch;
  int64_t offset_bytes = 0;
  for (const Tensor& piece : pieces) {
    int64_t row_bytes = piece.numel() / outer * element;
    if (row_bytes > 0) {  // empty pieces take no slot
      batch.data.push_back(piece.raw_data());
      batch.row_bytes.push_back(row_bytes);
      batch.offset_bytes.push_back(offset_bytes);
    }
    offset_bytes += row_bytes;
    if (static_cast<int>(batch.data.size()) == kMaxPieces) {
      launch_batch<ToWhole>(batch, whole.raw_data(), outer, whole_row_bytes);
      batch = Batch();
    }
  }
  launch_batch<ToWhole>(batch, whole.raw_data(), outer, whole_row_bytes);
}

}  // namespace

void concat(const std::vector<Tensor>& pieces, int64_t outer, const Tensor& out) {
  copy_pieces<true>(out, outer, pieces);
}

void split(const Tensor& whole, int64_t outer, const std::vector<Tensor>& pieces) {
  copy_pieces<false>(whole, outer, pieces);
}

}  // namespace engram::cuda
