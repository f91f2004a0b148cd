// Private to the dispatcher (kernels/dispatch.cpp, dispatch_norm.cpp, dispatch_train.cpp): the one branch
// on the device and the shared argument checks.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/profile.h"
#include "core/tensor.h"
#include "kernels/dropout.h"

namespace normlab::ops::detail {

// One line per op: NL_KERNEL(kernel, "op name", t, (other tensors...), args...) calls
// cpu::kernel<T>(args...) or cuda::kernel<T>(args...) for t's device, the arguments written once
// with T = the element type (float or double on the CPU, float on CUDA) — the backends take
// identical arguments. The CUDA call compiles only into builds with the CUDA backend
// (NORMLAB_HAS_CUDA); without it a CUDA tensor cannot even be allocated, so the branch is
// unreachable and says so if reached.
#define NL_UNPAREN(...) __VA_ARGS__
#ifdef NORMLAB_HAS_CUDA
#define NL_CUDA_CALL(kernel, ...)            \
  do {                                       \
    using T = float;                         \
    ::normlab::cuda::kernel<T>(__VA_ARGS__); \
  } while (0)
#else
#define NL_CUDA_CALL(kernel, ...) throw Error("no CUDA backend in this build")
#endif
#define NL_KERNEL(kernel, op, t, others, ...)   \
  ::normlab::ops::detail::run(                  \
      op, t, {NL_UNPAREN others},               \
      [&](auto tag) {                           \
        using T = decltype(tag);                \
        ::normlab::cpu::kernel<T>(__VA_ARGS__); \
      },                                        \
      [&] { NL_CUDA_CALL(kernel, __VA_ARGS__); })

// The one branch on the device. `t` decides; every tensor in `others` must be on the same device.
// CPU: on_cpu(T{}) with T = float or double per t's dtype. CUDA: on_cuda(), float32 only.
template <typename Fc, typename Fg>
void run(const char* op, const Tensor& t, std::initializer_list<const Tensor*> others, Fc&& on_cpu, Fg&& on_cuda) {
  NL_CHECK(t.defined(), op, ": undefined input");
  for (const Tensor* o : others)
    if (o && o->defined())
      NL_CHECK(o->device() == t.device(), op, ": tensors on different devices (", t.describe(), " and ", o->describe(),
               "); move them with to_device()");
  const profile::Scope timer(op);  // --profile: the op's wall time
  if (t.device() == Device::cuda) {
    NL_CHECK(t.dtype() == DType::f32, op, ": the CUDA kernels are float32, got ", t.describe());
    on_cuda();
    return;
  }
  switch (t.dtype()) {
    case DType::f32:
      on_cpu(float{});
      return;
    case DType::f64:
      on_cpu(double{});
      return;
    default:
      throw Error(std::string(op) + ": expected a floating-point tensor, got " + t.describe());
  }
}

inline void check4(const char* op, const char* name, const Tensor& t) {
  NL_CHECK(t.defined() && t.ndim() == 4, op, ": ", name, " must be 4-d [N,C,H,W], got ", t.describe());
}

inline int i(int64_t v) { return static_cast<int>(v); }

// The step counter's pointer for a kernel (kernels/step.h; null when there is none), after checking it.
inline const int32_t* step_ptr(const char* op, const Tensor& step, const Tensor& t) {
  if (!step.defined()) return nullptr;
  check_shape(op, "step", step, {2});
  NL_CHECK(step.dtype() == DType::i32, op, ": step must be i32");
  NL_CHECK(step.device() == t.device(), op, ": the step counter is on ", device_name(step.device()), ", the data on ",
           device_name(t.device()));
  return step.data<int32_t>();
}

// A dropout mask's seed for a kernel: the counter's pointer checked (kernels/dropout.h).
inline DropoutSeed mask_seed(const char* op, const MaskSeed& s, const Tensor& t) {
  return {s.base, s.layer, step_ptr(op, s.step, t)};
}

}  // namespace normlab::ops::detail
