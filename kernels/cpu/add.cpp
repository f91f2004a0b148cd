// CPU element-wise accumulation. Math: kernels/add.h.
#include "kernels/add.h"

namespace normlab::cpu {

template <typename T>
void add_inplace(T* a, const T* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

template void add_inplace<float>(float*, const float*, int64_t);
template void add_inplace<double>(double*, const double*, int64_t);

}  // namespace normlab::cpu
