// CPU mini-batch gather. Math: kernels/gather.h.
#include "kernels/gather.h"
#include "kernels/step.h"

#include <cstring>

namespace normlab::cpu {

template <typename T>
void gather_rows(T* y, int32_t* y_labels, const T* x, const int32_t* labels, const int32_t* order, const int32_t* step,
                 int64_t batch, int B, int row) {
  const int32_t* idx = order + step_rows(step, batch);
  for (int b = 0; b < B; ++b) {
    const int64_t k = idx[b];
    std::memcpy(y + int64_t(b) * row, x + k * row, sizeof(T) * static_cast<std::size_t>(row));
    y_labels[b] = labels[k];
  }
}

template void gather_rows<float>(float*, int32_t*, const float*, const int32_t*, const int32_t*, const int32_t*, int64_t,
                                 int, int);
template void gather_rows<double>(double*, int32_t*, const double*, const int32_t*, const int32_t*, const int32_t*,
                                  int64_t, int, int);

}  // namespace normlab::cpu
