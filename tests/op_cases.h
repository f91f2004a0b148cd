// Every op's test cases, written once (tests/op_cases.cpp) and run by two programs:
//
//   the gradient check (tests/test_gradcheck.cpp): CPU, float64, every case marked `fd` (small enough to
//     perturb each element): objective dot(u, forward()), each element of each `wrt` tensor perturbed by
//     +-h, compared with what `backward(u)` wrote (input gradients pre-filled with NaN: ASSIGNED;
//     parameter gradients with a sentinel: ACCUMULATED) — tests/gradcheck.h;
//   the CUDA parity test (tests/test_cuda.cpp): float32, every case, on the CPU and on the CUDA device
//     (twice: determinism, or under the emulator a race in reverse thread order), forward then backward
//     with the same u, and every output compared elementwise within its tolerance: forward()'s result,
//     each `wrt` gradient (pre-filled with NaN or 0.5 as above) and each tensor in `also`.
//
// Adding an op: one entry in the list of op_cases.cpp (its inputs from fixed seeds, its forward and
// backward through the dispatcher, which gradients and outputs to check). Inputs sit away from the
// op's kinks (ReLU at 0, max-pool ties).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace normlab::test {

struct Tol {
  double atol, rtol;  // |cuda - cpu| <= atol + rtol * |cpu|
};

struct Wrt {  // an input or parameter, and its gradient buffer
  std::string name;
  Tensor value, grad;  // (Tensors share storage: the case's closures see what the checks write)
  bool accumulates;    // parameter gradient (+=) or input gradient (=)
  Tol tol;             // CUDA vs CPU tolerance of the gradient
};

struct Also {  // another output compared between the devices: saved statistics, running statistics...
  std::string name;
  Tensor t;
  Tol tol;
};

struct OpRun {
  std::vector<Wrt> wrt;
  std::function<Tensor()> forward;                // runs the forward op(s); returns the output y
  std::function<void(const Tensor& u)> backward;  // the backward op(s) with dL/dy = u; empty: forward only
  std::vector<Also> also;
  Tol y_tol{1e-4, 1e-4};
  bool unit_upstream = false;  // u = 1 instead of random (ops whose backward takes no upstream tensor)
};

struct OpCase {
  std::string name;
  std::string group;  // conv, norm, pointwise, loss (the test cases of both programs)
  bool fd;            // small enough for the finite-difference gradient check
  std::function<OpRun(Device, DType)> make;  // fresh tensors from fixed seeds on that device and dtype
};

const std::vector<OpCase>& op_cases();

// Inputs from a seed: made on the CPU in dtype dt, then copied to device d, so every device sees
// the same values.
Tensor randn(const Shape& s, uint64_t seed, Device d, DType dt = DType::f32, double scale = 1.0);
Tensor ints(const std::vector<double>& v, Device d);  // an i32 tensor
// printf into a std::string (case names).
template <typename... A>
std::string str(const char* fmt, A... a) {
  char b[200];
  std::snprintf(b, sizeof b, fmt, a...);
  return b;
}

}  // namespace normlab::test
