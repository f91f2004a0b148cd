#include "layers/module.h"

#include <cstdio>
#include <sstream>

#include "kernels/versions.h"

namespace normlab {

std::string cuda_kernel_versions() { return ops::cuda_kernel_versions(); }

Var Sequential::forward(const Var& x, Context& ctx) {
  Var h = x;
  for (auto& m : layers_) h = m->forward(h, ctx);
  return h;
}

std::vector<Var> Sequential::parameters() {
  std::vector<Var> out;
  for (auto& m : layers_)
    for (auto& p : m->parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Sequential::buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  int number = 0;  // the layer number: a fused pair counts as its two layers (Module::layer_count)
  for (auto& m : layers_) {
    for (auto& [n, t] : m->buffers()) out.emplace_back(std::to_string(number) + "." + n, t);
    number += m->layer_count();
  }
  return out;
}

void move_to(Module& m, Device d) {
  for (auto& p : m.parameters()) {
    p->value = p->value.to_device(d);
    if (p->grad.defined()) p->grad = p->grad.to_device(d);
  }
  for (auto& [name, t] : m.buffers()) *t = t->to_device(d);
}

int64_t Sequential::num_parameters() {
  int64_t n = 0;
  for (auto& p : parameters()) n += p->value.numel();
  return n;
}

std::string Sequential::summary(const Shape& input, DType dtype) {
  std::ostringstream os;
  char line[160];
  std::snprintf(line, sizeof line, "%-4s %-46s %-18s %8s\n", "#", "layer", "output shape", "params");
  os << line << std::string(79, '-') << '\n';
  Context ctx;  // eval mode, no tape
  auto params = parameters();
  Var h = make_var(Tensor::zeros(input, dtype, params.empty() ? Device::cpu : params.front()->value.device()));
  int64_t total = 0;
  int number = 0;  // the layer number, as in buffers()
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    h = layers_[i]->forward(h, ctx);
    int64_t np = 0;
    for (auto& p : layers_[i]->parameters()) np += p->value.numel();
    total += np;
    Shape s = h->value.shape();
    s[0] = -1;
    std::string ss = shape_str(s);
    std::snprintf(line, sizeof line, "%-4d %-46s %-18s %8lld\n", number, layers_[i]->kind().c_str(), ss.c_str(),
                  static_cast<long long>(np));
    os << line;
    number += layers_[i]->layer_count();
  }
  os << std::string(79, '-') << '\n' << "total parameters: " << total << '\n';
  return os.str();
}

std::vector<std::pair<std::string, Tensor*>> Sequential::state_dict() {
  std::vector<std::pair<std::string, Tensor*>> named;
  auto params = parameters();
  for (std::size_t i = 0; i < params.size(); ++i) named.emplace_back("param." + std::to_string(i), &params[i]->value);
  for (auto& b : buffers()) named.emplace_back("buffer." + b.first, b.second);
  return named;
}

}  // namespace normlab
