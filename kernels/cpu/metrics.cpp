// CPU epoch metrics. Math: kernels/metrics.h.
#include "kernels/metrics.h"

#include <algorithm>

namespace normlab::cpu {

template <typename T>
void metrics_accumulate(double* acc, const T* logp, const T* loss, const T* penalty, int P, const int32_t* labels,
                        int N, int K) {
  double pen = 0;
  for (int p = 0; p < P; ++p) pen += static_cast<double>(penalty[p]);
  acc[0] += (static_cast<double>(*loss) + pen) * static_cast<double>(N);
  int64_t correct = 0;
  for (int n = 0; n < N; ++n) {
    const T* row = logp + int64_t(n) * K;
    correct += std::max_element(row, row + K) - row == labels[n];
  }
  acc[1] += static_cast<double>(correct);
}

template void metrics_accumulate<float>(double*, const float*, const float*, const float*, int, const int32_t*, int,
                                        int);
template void metrics_accumulate<double>(double*, const double*, const double*, const double*, int, const int32_t*, int,
                                         int);

}  // namespace normlab::cpu
