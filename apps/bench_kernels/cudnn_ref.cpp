// cuDNN and cuBLAS reference wrappers (see cudnn_ref.h).
#include "apps/bench_kernels/cudnn_ref.h"

#include <algorithm>

namespace normlab::ref {

cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t x{};
    CUDNN_CHECK(cudnnCreate(&x));
    CUDNN_CHECK(cudnnSetStream(x, cuda_stream()));  // the stream our kernels and the timing events use
    return x;
  }();
  return h;
}

cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t x{};
    CUBLAS_CHECK(cublasCreate(&x));
    CUBLAS_CHECK(cublasSetStream(x, cuda_stream()));
    CUBLAS_CHECK(cublasSetMathMode(x, CUBLAS_PEDANTIC_MATH));  // plain FP32, no TF32
    return x;
  }();
  return h;
}

namespace {
const float kOne = 1.f, kZero = 0.f;

void set4d(cudnnTensorDescriptor_t d, int n, int c, int h, int w) {
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
}
// The first (fastest) of cudnnFind*'s results that ran and is plain FP32 (FMA math), else `fallback`.
template <typename Perf, typename Algo>
Algo fastest_fma(const Perf* perf, int count, Algo fallback) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType == CUDNN_FMA_MATH) return perf[i].algo;
  return fallback;
}
}  // namespace

CudnnConv::CudnnConv(const Conv2dShape& s, bool fastest) : s_(s) {
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&b_));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_));
  set4d(x_, s.N, s.C, s.H, s.W);
  set4d(y_, s.N, s.K, s.Ho(), s.Wo());
  set4d(b_, 1, s.K, 1, 1);
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.K, s.C, s.R, s.R));
  CUDNN_CHECK(
      cudnnSetConvolution2dDescriptor(conv_, s.pad, s.pad, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, CUDNN_FMA_MATH));
  if (fastest) {
    // cudnnFind* runs every algorithm and returns them fastest first; keep the fastest that is
    // plain FP32 (FMA math).
    int got = 0;
    cudnnConvolutionFwdAlgoPerf_t f[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CUDNN_CHECK(
        cudnnFindConvolutionForwardAlgorithm(cudnn(), x_, w_, conv_, y_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, f));
    fwd_ = fastest_fma(f, got, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);
    cudnnConvolutionBwdDataAlgoPerf_t d[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(cudnn(), w_, y_, conv_, x_,
                                                          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, d));
    bwd_data_ = fastest_fma(d, got, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1);
    cudnnConvolutionBwdFilterAlgoPerf_t w[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(cudnn(), x_, y_, conv_, w_,
                                                            CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, w));
    bwd_filter_ = fastest_fma(w, got, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
  } else {  // deterministic algorithms, supported for every shape here
    fwd_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    bwd_data_ = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    bwd_filter_ = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
  }
  std::size_t a = 0, b = 0, c = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cudnn(), x_, w_, conv_, y_, fwd_, &a));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn(), w_, y_, conv_, x_, bwd_data_, &b));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn(), x_, y_, conv_, w_, bwd_filter_, &c));
  workspace_bytes_ = std::max({a, b, c});
  if (workspace_bytes_) CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

CudnnConv::~CudnnConv() {
  cudaFree(workspace_);
  cudnnDestroyConvolutionDescriptor(conv_);
  cudnnDestroyFilterDescriptor(w_);
  cudnnDestroyTensorDescriptor(b_);
  cudnnDestroyTensorDescriptor(y_);
  cudnnDestroyTensorDescriptor(x_);
}

void CudnnConv::forward(float* y, const float* x, const float* w, const float* b) {
  CUDNN_CHECK(
      cudnnConvolutionForward(cudnn(), &kOne, x_, x, w_, w, conv_, fwd_, workspace_, workspace_bytes_, &kZero, y_, y));
  if (b) CUDNN_CHECK(cudnnAddTensor(cudnn(), &kOne, b_, b, &kOne, y_, y));
}

void CudnnConv::backward_data(float* dx, const float* dy, const float* w) {
  CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &kOne, w_, w, y_, dy, conv_, bwd_data_, workspace_,
                                           workspace_bytes_, &kZero, x_, dx));
}

void CudnnConv::backward_weight(float* dw, float* db, const float* dy, const float* x) {
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &kOne, x_, x, y_, dy, conv_, bwd_filter_, workspace_,
                                             workspace_bytes_, &kOne, w_, dw));
  if (db) CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn(), &kOne, y_, dy, &kOne, b_, db));
}

std::string CudnnConv::algorithms() const {
  return "fwd " + std::to_string(static_cast<int>(fwd_)) + " / bwd-data " +
         std::to_string(static_cast<int>(bwd_data_)) + " / bwd-filter " + std::to_string(static_cast<int>(bwd_filter_));
}

CudnnBatchNorm::CudnnBatchNorm(int N, int C, int H, int W) {
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&c_));
  set4d(x_, N, C, H, W);
  set4d(c_, 1, C, 1, 1);
}

CudnnBatchNorm::~CudnnBatchNorm() {
  cudnnDestroyTensorDescriptor(c_);
  cudnnDestroyTensorDescriptor(x_);
}

void CudnnBatchNorm::forward_train(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                                   const float* x, const float* gamma, const float* beta, double eps, double momentum) {
  CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(cudnn(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x_, x, x_, y, c_,
                                                     gamma, beta, momentum, running_mean, running_var, eps, mean,
                                                     rstd));
}

void CudnnBatchNorm::forward_eval(float* y, const float* x, const float* gamma, const float* beta,
                                  const float* running_mean, const float* running_var, double eps) {
  CUDNN_CHECK(cudnnBatchNormalizationForwardInference(cudnn(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x_, x, x_, y, c_,
                                                      gamma, beta, running_mean, running_var, eps));
}

void CudnnBatchNorm::backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                              const float* rstd, const float* x, const float* gamma, double eps) {
  CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kOne, x_, x, x_,
                                              dy, x_, dx, c_, gamma, dgamma, dbeta, eps, mean, rstd));
}

void cublas_conv1x1_forward(float* y, const float* x, const float* w, int N, int C, int HW, int K) {
  // Column-major view: y_n^T [HW,K] = x_n^T [HW,C] * W^T [C,K].
  CUBLAS_CHECK(cublasSgemmStridedBatched(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, HW, K, C, &kOne, x, HW,
                                         static_cast<long long>(C) * HW, w, C, 0, &kZero, y, HW,
                                         static_cast<long long>(K) * HW, N));
}

}  // namespace normlab::ref
