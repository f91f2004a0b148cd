// The references our kernels are tested and benchmarked against: cuDNN for convolution and batch
// norm, cuBLAS for the GEMM that a 1x1 convolution is. Never used for training.
//
// Every wrapper takes device pointers and follows the kernels' contracts (kernels/conv2d.h,
// kernels/batchnorm.h): outputs first, y and dx ASSIGNED, dw/db/dgamma/dbeta ACCUMULATED (cuDNN's
// beta = 1 blending), so one test can compare both with the same sentinel-filled buffers.
// All math is FP32 with FMA (CUDNN_FMA_MATH; cuBLAS default math): no TF32, like our kernels.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include <string>

#include "core/cuda_check.h"
#include "kernels/conv2d.h"

#define CUDNN_CHECK(expr)                                                                                         \
  do {                                                                                                            \
    const cudnnStatus_t nl_st_ = (expr);                                                                          \
    if (nl_st_ != CUDNN_STATUS_SUCCESS)                                                                           \
      throw ::normlab::CudaError(::normlab::detail::concat("cuDNN error '", cudnnGetErrorString(nl_st_), "' in ", \
                                                           #expr, " at ", __FILE__, ":", __LINE__));              \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                                           \
  do {                                                                                                               \
    const cublasStatus_t nl_st_ = (expr);                                                                            \
    if (nl_st_ != CUBLAS_STATUS_SUCCESS)                                                                             \
      throw ::normlab::CudaError(::normlab::detail::concat("cuBLAS error ", static_cast<int>(nl_st_), " in ", #expr, \
                                                           " at ", __FILE__, ":", __LINE__));                        \
  } while (0)

namespace normlab::ref {

cudnnHandle_t cudnn();    // one handle for the process, on the default stream
cublasHandle_t cublas();  // likewise

// y = conv(x, w) + b as cuDNN computes it. fastest = false: fixed algorithms that need no search
// (the test reference); fastest = true: cudnnFind* times them all and keeps the fastest (the bench).
class CudnnConv {
 public:
  CudnnConv(const Conv2dShape& s, bool fastest);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;
  void forward(float* y, const float* x, const float* w, const float* b);  // b may be null
  void backward_data(float* dx, const float* dy, const float* w);
  void backward_weight(float* dw, float* db, const float* dy, const float* x);  // db may be null
  std::string algorithms() const;                                               // "fwd 1 / bwd-data 1 / bwd-filter 1"

 private:
  Conv2dShape s_;
  cudnnTensorDescriptor_t x_{}, y_{}, b_{};
  cudnnFilterDescriptor_t w_{};
  cudnnConvolutionDescriptor_t conv_{};
  cudnnConvolutionFwdAlgo_t fwd_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_{};
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
};

// Spatial batch norm (per channel over N, H, W), as cuDNN computes it; mean and rstd are cuDNN's
// saved mean and saved inverse standard deviation, running variance unbiased, as ours.
class CudnnBatchNorm {
 public:
  CudnnBatchNorm(int N, int C, int H, int W);
  ~CudnnBatchNorm();
  CudnnBatchNorm(const CudnnBatchNorm&) = delete;
  CudnnBatchNorm& operator=(const CudnnBatchNorm&) = delete;
  void forward_train(float* y, float* mean, float* rstd, float* running_mean, float* running_var, const float* x,
                     const float* gamma, const float* beta, double eps, double momentum);
  void forward_eval(float* y, const float* x, const float* gamma, const float* beta, const float* running_mean,
                    const float* running_var, double eps);
  void backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                const float* x, const float* gamma, double eps);

 private:
  cudnnTensorDescriptor_t x_{}, c_{};
};

// A 1x1, pad-0 convolution as one strided-batched SGEMM per batch: y_n [K,HW] = W [K,C] x_n [C,HW].
void cublas_conv1x1_forward(float* y, const float* x, const float* w, int N, int C, int HW, int K);

}  // namespace normlab::ref
