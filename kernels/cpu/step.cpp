// CPU step counter. Math: kernels/step.h.
#include "kernels/step.h"

namespace normlab::cpu {
void step_advance(int32_t* step) {
  ++step[0];
  ++step[1];
}
}  // namespace normlab::cpu
