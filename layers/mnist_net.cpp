#include "layers/mnist_net.h"

#include "layers/basic.h"
#include "layers/conv.h"

namespace normlab {

std::unique_ptr<Sequential> build_mnist_net(const NetConfig& cfg, Rng& rng, DType dtype) {
  auto net = std::make_unique<Sequential>();
  int64_t h = 28;  // spatial size, tracked to give LayerNorm its [C,H,W]
  uint64_t drop_id = 0;
  auto block = [&](int cin, int cout, int pad, bool drop) {
    net->add(std::make_unique<Conv2d>(cin, cout, 3, pad, false, rng, dtype));
    h = h + 2 * pad - 2;
    net->add(make_norm(cfg.norm, {cout, h, h}, cfg.norm_cfg, dtype));
    net->add(std::make_unique<ReLU>());
    if (drop && cfg.dropout > 0) net->add(std::make_unique<Dropout>(cfg.dropout, drop_id++));
  };
  block(1, 8, 0, true);    // 26
  block(8, 16, 0, true);   // 24
  net->add(std::make_unique<Conv2d>(16, 8, 1, 0, false, rng, dtype));
  net->add(std::make_unique<MaxPool2x2>());
  h /= 2;                  // 12
  block(8, 16, 0, true);   // 10
  block(16, 16, 0, true);  // 8
  block(16, 16, 0, true);  // 6
  block(16, 16, 1, false); // 6
  net->add(std::make_unique<GlobalAvgPool>());
  net->add(std::make_unique<Conv2d>(16, 10, 1, 0, false, rng, dtype));
  net->add(std::make_unique<Flatten>());
  return net;
}

}  // namespace normlab
