// Modules: the layers a network is built from, over the ops of the kernel contracts (kernels/<op>.h, namespace ops).
//
// A Module maps one Var to one Var. When ctx.tape is set, forward() records the backward closure
// of what it computed; with ctx.tape == nullptr (evaluation) nothing is recorded. Parameters are
// Vars made with make_param; buffers (BN running statistics) are plain Tensors saved in checkpoints.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers/autograd.h"

namespace normlab {

struct Context {
  Tape* tape = nullptr;   // record backward closures here; null = no gradients
  bool training = false;  // BN batch statistics and dropout on/off
  uint64_t seed = 0;      // the step's seed for dropout masks; with `step`, the seed of step 0
  // The training's step counter (kernels/step.h), or undefined: when set, dropout reads the step
  // from it (seed + s) when its kernel runs, so that a captured step (a CUDA Graph) can be replayed.
  Tensor step;
};

// What the layers' CUDA ops run, for the record of a run: each op's kernel version, e.g.
// "conv2d=3,batchnorm=5,..." (kernels/versions.h; NORMLAB_CUDA_VERSIONS applied and checked: a
// malformed value throws InputError). "" in a build without a CUDA backend.
std::string cuda_kernel_versions();

class Module {
 public:
  virtual ~Module() = default;
  virtual Var forward(const Var& x, Context& ctx) = 0;
  virtual std::string kind() const = 0;  // e.g. "Conv2d(8->16, 3x3, pad 0)"
  virtual std::vector<Var> parameters() { return {}; }
  virtual std::vector<std::pair<std::string, Tensor*>> buffers() { return {}; }
  // How many layers of a Sequential this module stands for: 2 for a fused pair (ReLUDropout), so
  // that the layers after it keep their numbers in summary() and their buffers' checkpoint names.
  virtual int layer_count() const { return 1; }
};

class Sequential : public Module {
 public:
  void add(std::unique_ptr<Module> m) { layers_.push_back(std::move(m)); }
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override { return "Sequential"; }
  std::vector<Var> parameters() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  Module& at(std::size_t i) { return *layers_[i]; }  // the i-th module added (not its layer number)

  int64_t num_parameters();
  // The model's tensors by checkpoint name: "param.<i>" for each parameter's value, in
  // parameters() order, then "buffer.<name>" (BN running statistics). The pointers stay valid
  // while the model lives (and move with it between devices only through move_to).
  std::vector<std::pair<std::string, Tensor*>> state_dict();
  // A torchsummary-like table: each layer's output shape and parameter count, and the total,
  // computed by running a batch-1 input of `input` shape through the network in eval mode.
  std::string summary(const Shape& input, DType dtype);

 private:
  std::vector<std::unique_ptr<Module>> layers_;
};

// Moves every parameter (value and gradient) and buffer of m to device d, in place. Make the
// optimizer afterwards: its state is allocated on the parameters' device.
void move_to(Module& m, Device d);

}  // namespace normlab
