// CPU fused log-softmax + NLL. Math: kernels/log_softmax_nll.h.
#include "kernels/log_softmax_nll.h"

#include <algorithm>
#include <cmath>

namespace normlab::cpu {

template <typename T>
void log_softmax_nll_forward(T* logp, T* loss, const T* z, const int32_t* labels, int N, int K) {
  double total = 0;  // serial: N*K is tiny and the sum order stays fixed
  for (int n = 0; n < N; ++n) {
    const T* zn = z + static_cast<int64_t>(n) * K;
    T* lp = logp + static_cast<int64_t>(n) * K;
    const double m = *std::max_element(zn, zn + K);
    double s = 0;
    for (int k = 0; k < K; ++k) s += std::exp(zn[k] - m);
    const double lse = m + std::log(s);
    for (int k = 0; k < K; ++k) lp[k] = static_cast<T>(zn[k] - lse);
    total -= zn[labels[n]] - lse;
  }
  *loss = static_cast<T>(total / N);
}

template <typename T>
void log_softmax_nll_backward(T* dz, const T* logp, const int32_t* labels, T dloss, int N, int K) {
  const T scale = dloss / static_cast<T>(N);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) {
      const int64_t i = static_cast<int64_t>(n) * K + k;
      dz[i] = scale * (std::exp(logp[i]) - (k == labels[n] ? T(1) : T(0)));
    }
}

template void log_softmax_nll_forward<float>(float*, float*, const float*, const int32_t*, int, int);
template void log_softmax_nll_forward<double>(double*, double*, const double*, const int32_t*, int, int);
template void log_softmax_nll_backward<float>(float*, const float*, const int32_t*, float, int, int);
template void log_softmax_nll_backward<double>(double*, const double*, const int32_t*, double, int, int);

}  // namespace normlab::cpu
