// Autograd-lite: variables and a tape of backward closures.
//
// A Var holds a value and (lazily) its gradient. Each differentiable op, when the tape is
// recording, pushes one closure that reads the upstream gradient of its output and writes the
// gradients of its inputs. Tape::backward() runs the closures in reverse order of recording.
//
// Gradient contract (the same as the kernels'):
//   * parameters (Var::is_param) own a zero-initialised grad and their gradients ACCUMULATE (+=),
//     so several steps can be summed and Optimizer::zero_grad() resets them;
//   * every other variable's grad is ASSIGNED by its single consumer; if a variable feeds two
//     consumers, add_grad() sums their contributions.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace normlab {

struct VarNode {
  Tensor value;
  Tensor grad;  // undefined until backward reaches this variable (or zeros for a parameter)
  std::string name;
  bool requires_grad = true;  // false for data inputs: backward skips their gradient
  bool is_param = false;
  bool decay = false;  // parameters only: does weight decay / L1 apply to it?
};
using Var = std::shared_ptr<VarNode>;

Var make_var(Tensor value, std::string name = {});
Var make_param(Tensor value, std::string name, bool decay);

// Gives `v` the gradient that `compute(out)` assigns into `out`. The first contribution is written
// straight into v->grad; later ones go through a temporary and are added.
void add_grad(VarNode& v, const std::function<void(Tensor& out)>& compute);

// For kernels that produce the input gradient together with parameter gradients (the norms):
// add_grad(x, compute) when x needs a gradient, else compute into a scratch buffer that is dropped.
void input_grad(VarNode& x, const std::function<void(Tensor& out)>& compute);

class Tape {
 public:
  void record(std::function<void()> backward_fn);
  // Runs all recorded closures, newest first, then clears the tape.
  void backward();

 private:
  std::vector<std::function<void()>> ops_;
};

}  // namespace normlab
