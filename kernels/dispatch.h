// The dispatcher: the one place that turns Tensors into kernel calls.
//
// Each function checks shapes, dtypes and devices (throwing an Error that names the op and the
// shapes), then calls the kernel of the tensors' device: kernels/cpu/<op>.cpp for Device::cpu
// (float or double), kernels/cuda/<op>.cu for Device::cuda (float; launched asynchronously, so a
// CUDA call returns before the GPU has finished). All tensors of one call must be on one device.
// Layers call only these functions. Argument order and assign/accumulate rules are the kernels' (see
// kernels/<op>.h): outputs, saved statistics, inputs, parameters, then sizes and hyperparameters.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace normlab::ops {

void add_inplace(Tensor& a, const Tensor& b);  // a += b

// x [N,C,H,W], w [K,C,R,R], b [K] or undefined; y [N,K,Ho,Wo].
void conv2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int pad);
void conv2d_backward_data(Tensor& dx, const Tensor& dy, const Tensor& w, int pad);
void conv2d_backward_weight(Tensor& dw, Tensor* db, const Tensor& dy, const Tensor& x, int pad);

// x [N,C,H,W]; per-channel tensors [C].
void batchnorm_forward_train(Tensor& y, Tensor& mean, Tensor& rstd, Tensor& running_mean,
                             Tensor& running_var, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, double eps, double momentum);
void batchnorm_forward_eval(Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, double eps);
void batchnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma);

// mean, rstd [N, G].
void groupnorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, int groups, double eps);
void groupnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma,
                        int groups);

// mean, rstd [N]; gamma/beta [C] (per channel) or [C,H,W] (per element), told apart by shape.
void layernorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, double eps);
void layernorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma);

void relu_forward(Tensor& y, const Tensor& x);
void relu_backward(Tensor& dx, const Tensor& dy, const Tensor& y);

// x [N,C,H,W]; y, argmax (i32) [N,C,H/2,W/2].
void maxpool2x2_forward(Tensor& y, Tensor& argmax, const Tensor& x);
void maxpool2x2_backward(Tensor& dx, const Tensor& dy, const Tensor& argmax);

void dropout_forward(Tensor& y, const Tensor& x, double p, uint64_t seed);
void dropout_backward(Tensor& dx, const Tensor& dy, double p, uint64_t seed);

// x [N,C,H,W] -> y [N,C,1,1].
void gap_forward(Tensor& y, const Tensor& x);
void gap_backward(Tensor& dx, const Tensor& dy);

// z, logp [N,K]; labels i32 [N]; loss [1] receives the mean loss (stays on the device).
void log_softmax_nll_forward(Tensor& logp, Tensor& loss, const Tensor& z, const Tensor& labels);
void log_softmax_nll_backward(Tensor& dz, const Tensor& logp, const Tensor& labels, double dloss);

// value[slot] += l1*sum|w| + l2/2*sum w^2 (value: 1-d, w's device and dtype); backward adds
// l1*sign(w) + l2*w to dw.
void penalty_forward(Tensor& value, int64_t slot, const Tensor& w, double l1, double l2);
void penalty_backward(Tensor& dw, const Tensor& w, double l1, double l2);

void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, double lr, double momentum, bool nesterov);

// x, y [N,1,H,W] (or [N,H,W]); angle [N] radians.
void rotate_forward(Tensor& y, const Tensor& x, const Tensor& angle, double fill);

// y [B,...] = rows idx[b] of x [M,...]; y_labels [B] = labels[idx] (labels, idx: i32).
void gather_rows(Tensor& y, Tensor& y_labels, const Tensor& x, const Tensor& labels, const Tensor& idx);

// acc f64 [2] += {(loss + sum penalty) * N, correct predictions}; logp [N,K], loss [1],
// penalty [P] or undefined, labels [N]; all on one device (kernels/metrics.h).
void metrics_accumulate(Tensor& acc, const Tensor& logp, const Tensor& loss, const Tensor& penalty,
                        const Tensor& labels);

}  // namespace normlab::ops
