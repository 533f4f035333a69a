// cuDNN twin of conv2d (legacy cuDNN 9 API), the reference engram's kernels
// are measured against and an opt-in fast path (ENGRAM_BACKEND=conv=vendor).
//
// FP32 in, FP32 compute, CUDNN_FMA_MATH: no TF32 tensor cores, so the
// comparison with engram's FP32 kernels is like for like. For every distinct
// (pass, shape) the fastest algorithm is measured once with cudnnFind*
// (falling back to the cudnnGet*_v7 heuristics) and cached with its
// descriptors. Workspaces come from the stream-ordered allocator, and the
// handle is bound to engram's stream, so nothing here synchronises the host
// after the first call of a shape.
#include <cudnn.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/cuda/check.h"
#include "kernels/conv2d.h"

namespace engram::vendor {

namespace {

#define ENGRAM_CUDNN_CHECK(call)                                                  \
  do {                                                                            \
    cudnnStatus_t engram_cudnn_status_ = (call);                                  \
    if (engram_cudnn_status_ != CUDNN_STATUS_SUCCESS)                             \
      throw DeviceError(std::string("conv2d (cuDNN): ") + #call +                 \
                        " failed: " + cudnnGetErrorString(engram_cudnn_status_)); \
  } while (0)

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t created;
    ENGRAM_CUDNN_CHECK(cudnnCreate(&created));
    return created;
  }();
  ENGRAM_CUDNN_CHECK(cudnnSetStream(h, cuda::stream()));
  return h;
}

enum class Pass { forward, backward_data, backward_weight };

// Descriptors of one convolution and the algorithm chosen for one pass.
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algorithm = 0;
  size_t workspace_bytes = 0;

  explicit Plan(const Conv2dGeometry& g) {
    auto i = [](int64_t v) { return static_cast<int>(v); };
    const Conv2dParams& p = g.params;
    ENGRAM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    ENGRAM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    ENGRAM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    ENGRAM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    ENGRAM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    ENGRAM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(g.batch), i(g.in_channels),
                                                  i(g.height), i(g.width)));
    ENGRAM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(g.batch), i(g.out_channels),
                                                  i(g.out_height), i(g.out_width)));
    ENGRAM_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, i(g.out_channels), 1, 1));
    ENGRAM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, i(g.out_channels),
                                                  i(g.in_channels_per_group()), i(g.kernel_h), i(g.kernel_w)));
    ENGRAM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, i(p.pad_h), i(p.pad_w), i(p.stride_h), i(p.stride_w),
                                                       i(p.dilation_h), i(p.dilation_w), CUDNN_CROSS_CORRELATION,
                                                       CUDNN_DATA_FLOAT));
    ENGRAM_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, i(p.groups)));
    ENGRAM_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));  // FP32 FMA only, TF32 off
  }
  ~Plan() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
};

bool fp32_math(cudnnMathType_t math) { return math == CUDNN_FMA_MATH || math == CUDNN_DEFAULT_MATH; }

// The fastest successful FP32-math result of a cudnnFind*/Get* call, or -1.
template <typename Perf>
int best_algorithm(const Perf* results, int count, size_t* workspace_bytes) {
  for (int i = 0; i < count; ++i) {  // results come sorted by time
    if (results[i].status == CUDNN_STATUS_SUCCESS && fp32_math(results[i].mathType)) {
      *workspace_bytes = results[i].memory;
      return static_cast<int>(results[i].algo);
    }
  }
  return -1;
}

void choose_algorithm(Plan& plan, Pass pass) {
  cudnnHandle_t h = handle();
  int returned = 0, algorithm = -1;
  size_t bytes = 0;
  if (pass == Pass::forward) {
    std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
    if (cudnnFindConvolutionForwardAlgorithm(h, plan.x, plan.w, plan.conv, plan.y, static_cast<int>(perf.size()),
                                             &returned, perf.data()) == CUDNN_STATUS_SUCCESS)
      algorithm = best_algorithm(perf.data(), returned, &bytes);
    if (algorithm < 0) {
      ENGRAM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x, plan.w, plan.conv, plan.y,
                                                                static_cast<int>(perf.size()), &returned, perf.data()));
      algorithm = best_algorithm(perf.data(), returned, &bytes);
    }
    if (algorithm >= 0)
      ENGRAM_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
          h, plan.x, plan.w, plan.conv, plan.y, static_cast<cudnnConvolutionFwdAlgo_t>(algorithm), &bytes));
  } else if (pass == Pass::backward_data) {
    std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perf{};
    if (cudnnFindConvolutionBackwardDataAlgorithm(h, plan.w, plan.y, plan.conv, plan.x, static_cast<int>(perf.size()),
                                                  &returned, perf.data()) == CUDNN_STATUS_SUCCESS)
      algorithm = best_algorithm(perf.data(), returned, &bytes);
    if (algorithm < 0) {
      ENGRAM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, plan.w, plan.y, plan.conv, plan.x, static_cast<int>(perf.size()), &returned, perf.data()));
      algorithm = best_algorithm(perf.data(), returned, &bytes);
    }
    if (algorithm >= 0)
      ENGRAM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
          h, plan.w, plan.y, plan.conv, plan.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(algorithm), &bytes));
  } else {
    std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> perf{};
    if (cudnnFindConvolutionBackwardFilterAlgorithm(h, plan.x, plan.y, plan.conv, plan.w, static_cast<int>(perf.size()),
                                                    &returned, perf.data()) == CUDNN_STATUS_SUCCESS)
      algorithm = best_algorithm(perf.data(), returned, &bytes);
    if (algorithm < 0) {
      ENGRAM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, plan.x, plan.y, plan.conv, plan.w, static_cast<int>(perf.size()), &returned, perf.data()));
      algorithm = best_algorithm(perf.data(), returned, &bytes);
    }
    if (algorithm >= 0)
      ENGRAM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
          h, plan.x, plan.y, plan.conv, plan.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algorithm), &bytes));
  }
  ENGRAM_CHECK(algorithm >= 0, DeviceError, "conv2d (cuDNN)", "no FP32 algorithm supports this convolution");
  plan.algorithm = algorithm;
  plan.workspace_bytes = bytes;
}

// The cached plan of (pass, geometry); found once, reused on every later call.
const Plan& plan_for(Pass pass, const Conv2dGeometry& g) {
  using Key = std::array<int64_t, 15>;
  static std::map<Key, std::unique_ptr<Plan>> cache;
  static std::mutex mutex;
  const Conv2dParams& p = g.params;
  Key key{static_cast<int64_t>(pass),
          g.batch,
          g.in_channels,
          g.height,
          g.width,
          g.out_channels,
          g.kernel_h,
          g.kernel_w,
          p.stride_h,
          p.stride_w,
          p.pad_h,
          p.pad_w,
          p.dilation_h,
          p.dilation_w,
          p.groups};
  std::lock_guard<std::mutex> lock(mutex);
  auto found = cache.find(key);
  if (found != cache.end()) return *found->second;
  auto plan = std::make_unique<Plan>(g);
  choose_algorithm(*plan, pass);
  return *cache.emplace(key, std::move(plan)).first->second;
}

// A workspace from the stream-ordered allocator; freed (stream-ordered) when the Tensor goes.
Tensor workspace(size_t bytes) { return Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, Device::cuda()); }

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                    const Tensor& y) {
  Conv2dGeometry g = conv2d_geometry("conv2d", x.shape(), weight.shape(), params);
  const Plan& plan = plan_for(Pass::forward, g);
  Tensor space = workspace(plan.workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  ENGRAM_CUDNN_CHECK(cudnnConvolutionForward(handle(), &one, plan.x, x.raw_data(), plan.w, weight.raw_data(), plan.conv,
                                             static_cast<cudnnConvolutionFwdAlgo_t>(plan.algorithm), space.raw_data(),
                                             plan.workspace_bytes, &zero, plan.y, y.raw_data()));
  if (bias.defined())
    ENGRAM_CUDNN_CHECK(cudnnAddTensor(handle(), &one, plan.bias, bias.raw_data(), &one, plan.y, y.raw_data()));
}

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, const Conv2dParams& params,
                          const Tensor& grad_x) {
  Conv2dGeometry g = conv2d_geometry("conv2d_backward_data", grad_x.shape(), weight.shape(), params);
  const Plan& plan = plan_for(Pass::backward_data, g);
  Tensor space = workspace(plan.workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  ENGRAM_CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), &one, plan.w, weight.raw_data(), plan.y, grad_y.raw_data(),
                                                  plan.conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algorithm),
                                                  space.raw_data(), plan.workspace_bytes, &zero, plan.x,
                                                  grad_x.raw_data()));
}

void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& params,
                            const Tensor& grad_weight) {
  Conv2dGeometry g = conv2d_geometry("conv2d_backward_weight", x.shape(), grad_weight.shape(), params);
  const Plan& plan = plan_for(Pass::backward_weight, g);
  Tensor space = workspace(plan.workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  ENGRAM_CUDNN_CHECK(
      cudnnConvolutionBackwardFilter(handle(), &one, plan.x, x.raw_data(), plan.y, grad_y.raw_data(), plan.conv,
                                     static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.algorithm), space.raw_data(),
                                     plan.workspace_bytes, &zero, plan.w, grad_weight.raw_data()));
}

void conv2d_backward_bias(const Tensor& grad_y, const Tensor& grad_bias) {
  cudnnTensorDescriptor_t dy = nullptr, db = nullptr;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  ENGRAM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&dy));
  ENGRAM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&db));
  cudnnStatus_t status = cudnnSetTensor4dDescriptor(dy, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(grad_y.size(0)),
                                                    i(grad_y.size(1)), i(grad_y.size(2)), i(grad_y.size(3)));
  if (status == CUDNN_STATUS_SUCCESS)
    status = cudnnSetTensor4dDescriptor(db, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, i(grad_y.size(1)), 1, 1);
  const float one = 1.0f, zero = 0.0f;
  if (status == CUDNN_STATUS_SUCCESS)
    status = cudnnConvolutionBackwardBias(handle(), &one, dy, grad_y.raw_data(), &zero, db, grad_bias.raw_data());
  cudnnDestroyTensorDescriptor(db);
  cudnnDestroyTensorDescriptor(dy);
  ENGRAM_CUDNN_CHECK(status);
}

}  // namespace engram::vendor
