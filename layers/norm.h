// Normalization layers and the Norm enum the network builder is parameterised by.
//   BatchNorm2d  statistics over (N, H, W) per channel; running statistics for evaluation
//   GroupNorm    statistics over (C/G, H, W) per sample and group; same in training and eval
//   LayerNorm    statistics over (C, H, W) per sample; affine per channel (default) or per element
// Math: kernels/batchnorm.h, kernels/groupnorm.h, kernels/layernorm.h.
// A norm layer may apply the ReLU (and dropout) that follows it itself (NormActivation): the
// network's norm -> ReLU -> dropout is then one op each way (kernels/activation.h), the same bits as
// the separate layers.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "layers/module.h"

namespace normlab {

enum class Norm { bn, gn, ln };
std::string norm_name(Norm n);
std::optional<Norm> parse_norm(const std::string& s);

struct NormConfig {
  double eps = 1e-5;
  double momentum = 0.1;         // BN running statistics
  int groups = 2;                // GN
  bool ln_per_element = false;   // LN affine: per channel (2C params) or per element (2CHW params)
};

// The activation a norm layer applies to its output: none, a ReLU, or a ReLU then dropout with
// probability `dropout` in training, its masks those of the Dropout layer `dropout_id` (layers/basic.h).
struct NormActivation {
  bool relu = false;
  double dropout = 0;
  uint64_t dropout_id = 0;
};

// What the three norm layers share: the activation, and the layers it stands for.
class NormLayer : public Module {
 public:
  void set_activation(const NormActivation& a);
  const NormActivation& activation() const { return act_; }
  // The norm's own layer, plus the ReLU and the Dropout it applies: the layers after it keep their
  // numbers (Module::layer_count), and with them the checkpoint names of their buffers.
  int layer_count() const override { return 1 + (act_.relu ? 1 : 0) + (act_.dropout > 0 ? 1 : 0); }

 protected:
  std::string kind_suffix() const;              // " + ReLU + Dropout(0.05)"
  ops::Act act_for(const Context& ctx) const;   // what the ops take in this step (no dropout in eval)
  NormActivation act_;
};

class BatchNorm2d : public NormLayer {
 public:
  BatchNorm2d(int channels, const NormConfig& cfg, DType dtype = DType::f32);
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override;
  std::vector<Var> parameters() override { return {gamma, beta}; }
  std::vector<std::pair<std::string, Tensor*>> buffers() override {
    return {{"running_mean", &running_mean}, {"running_var", &running_var}};
  }
  Var gamma, beta;
  Tensor running_mean, running_var;

 private:
  double eps_, momentum_;
};

class GroupNorm : public NormLayer {
 public:
  GroupNorm(int channels, const NormConfig& cfg, DType dtype = DType::f32);
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override;
  std::vector<Var> parameters() override { return {gamma, beta}; }
  Var gamma, beta;

 private:
  int groups_;
  double eps_;
};

class LayerNorm : public NormLayer {
 public:
  // chw: the per-sample shape {C, H, W} the layer will see (needed for the per-element affine).
  LayerNorm(const Shape& chw, const NormConfig& cfg, DType dtype = DType::f32);
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override;
  std::vector<Var> parameters() override { return {gamma, beta}; }
  Var gamma, beta;

 private:
  Shape chw_;
  bool per_element_;
  double eps_;
};

// The normalization layer for `n` after a layer with output [C, H, W], applying `act` to its output.
std::unique_ptr<Module> make_norm(Norm n, const Shape& chw, const NormConfig& cfg, DType dtype,
                                  const NormActivation& act = {});

// A norm is one row of this table: the CLI, the figures, the summaries and the tests iterate it, so a
// new norm is a new row (plus its layer class above).
struct NormSpec {
  Norm norm;
  const char* name;   // on the command line and in folder names: "bn"
  const char* label;  // in figures and tables: "BN"
  const char* title;  // "Batch Norm"
  bool l1_in_study;   // the study trains this norm with --l1 (BN + L1); the others without
  std::unique_ptr<NormLayer> (*make)(const Shape& chw, const NormConfig& cfg, DType dtype);
};
const std::vector<NormSpec>& norm_table();
const NormSpec& norm_spec(Norm n);
std::string norm_choices();  // "bn, gn or ln", for messages

// A group count that does not divide a layer's channels (GroupNorm's constructor throws it).
struct GroupCountError : InputError {
  GroupCountError(int groups_, int channels_);
  int groups, channels;
};

}  // namespace normlab
