// CPU reference of the reductions. Sums accumulate in double whatever the
// element type, and every output is added up in a fixed order, so results do
// not depend on the number of OpenMP threads.
#include "kernels/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace engram::cpu {

namespace {

// Elements summed by one task when a single output covers a long row.
constexpr int64_t kSumChunk = 4096;

template <typename T>
double strided_sum(const T* x, int64_t count, int64_t stride) {
  double total = 0;
  for (int64_t j = 0; j < count; ++j) total += static_cast<double>(x[j * stride]);
  return total;
}

// True when (value, index) should replace (best, best_index): larger values
// win, NaN beats every number, equal values keep the lowest index.
template <typename T>
bool beats(T value, int64_t index, T best, int64_t best_index) {
  if (std::isnan(value)) return !std::isnan(best) || index < best_index;
  if (std::isnan(best)) return false;
  return value > best || (value == best && index < best_index);
}

// First maximum of x[0], x[stride], ..., x[(count-1)*stride]; count >= 1.
template <typename T>
int64_t strided_argmax(const T* x, int64_t count, int64_t stride) {
  int64_t best_index = 0;
  for (int64_t j = 1; j < count; ++j)
    if (beats(x[j * stride], j, x[best_index * stride], best_index)) best_index = j;
  return best_index;
}

template <typename T>
int32_t count_matches(const T* logits, const int32_t* labels, int64_t rows, int64_t classes) {
  int32_t correct = 0;
#pragma omp parallel for reduction(+ : correct) if (rows * classes >= kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) correct += strided_argmax(logits + r * classes, classes, 1) == labels[r] ? 1 : 0;
  return correct;
}

}  // namespace

void sum(const Tensor& x, const ReduceView& view, double scale, const Tensor& out) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "sum", [&] {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    int64_t outputs = view.outer * view.inner;
    if (outputs == 1 && view.n > kSumChunk) {
      // One long row: fixed chunks summed in parallel, then in order.
      int64_t chunks = (view.n + kSumChunk - 1) / kSumChunk;
      std::vector<double> partial(static_cast<size_t>(chunks));
      parallel_for(chunks, [&](int64_t c) {
        int64_t begin = c * kSumChunk;
        partial[c] = strided_sum(px + begin, std::min(kSumChunk, view.n - begin), 1);
      });
      double total = 0;
      for (double p : partial) total += p;
      po[0] = static_cast<scalar_t>(total * scale);
      return;
    }
    parallel_for(outputs, [&](int64_t k) {
      int64_t o = k / view.inner, i = k % view.inner;
      po[k] = static_cast<scalar_t>(strided_sum(px + o * view.n * view.inner + i, view.n, view.inner) * scale);
    });
  });
}

void broadcast(const Tensor& grad_out, const ReduceView& view, double scale, const Tensor& grad_x) {
  ENGRAM_DISPATCH_FLOATING(grad_out.dtype(), "sum backward", [&] {
    const scalar_t* pg = grad_out.data<scalar_t>();
    scalar_t* px = grad_x.data<scalar_t>();
    int64_t row = view.n * view.inner;
    parallel_for(grad_x.numel(), [&](int64_t e) {
      int64_t o = e / row, i = e % view.inner;
      px[e] = static_cast<scalar_t>(scale * static_cast<double>(pg[o * view.inner + i]));
    });
  });
}

void max(const Tensor& x, const ReduceView& view, const Tensor& values, const Tensor& indices) {
  ENGRAM_DISPATCH_FLOATING(x.dtype(), "max", [&] {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* pv = values.defined() ? values.data<scalar_t>() : nullptr;
    int32_t* pi = indices.defined() ? indices.data<int32_t>() : nullptr;
    parallel_for(view.outer * view.inner, [&](int64_t k) {
      int64_t o = k / view.inner, i = k % view.inner;
      const scalar_t* column = px + o * view.n * view.inner + i;
      int64_t j = strided_argmax(column, view.n, view.inner);
      if (pv) pv[k] = column[j * view.inner];
      if (pi) pi[k] = static_cast<int32_t>(j);
    });
  });
}

void max_backward(const Tensor& grad_values, const Tensor& indices, const ReduceView& view, const Tensor& grad_x) {
  ENGRAM_DISPATCH_FLOATING(grad_values.dtype(), "max backward", [&] {
    const scalar_t* pg = grad_values.data<scalar_t>();
    const int32_t* pi = indices.data<int32_t>();
    scalar_t* px = grad_x.data<scalar_t>();
    int64_t row = view.n * view.inner;
    parallel_for(grad_x.numel(), [&](int64_t e) {
      int64_t o = e / row, j = (e / view.inner) % view.n, i = e % view.inner;
      int64_t k = o * view.inner + i;
      px[e] = pi[k] == j ? pg[k] : scalar_t(0);
    });
  });
}

void count_correct(const Tensor& logits, const Tensor& labels, const Tensor& count) {
  ENGRAM_DISPATCH_FLOATING(logits.dtype(), "count_correct", [&] {
    count.data<int32_t>()[0] =
        count_matches(logits.data<scalar_t>(), labels.data<int32_t>(), logits.size(0), logits.size(1));
  });
}

}  // namespace engram::cpu
