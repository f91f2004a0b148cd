#include "layers/mnist_net.h"

#include <sstream>
#include <vector>

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
    // The norm applies the ReLU and dropout after it itself (layers/norm.h): one op each way.
    NormActivation act{true, 0.0, 0};
    if (drop && cfg.dropout > 0) act = {true, cfg.dropout, drop_id++};
    net->add(make_norm(cfg.norm, {cout, h, h}, cfg.norm_cfg, dtype, act));
  };
  // Parse every item first, so that a bad string fails before any layer is built.
  struct Item {
    char kind;  // 'c' conv 3x3 block, 't' 1x1 transition, 'm' max pool
    int channels;
    int pad;
  };
  std::vector<Item> items;
  std::stringstream ss(cfg.arch);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    const std::string bad = "architecture item '" + tok + "' in '" + cfg.arch + "'";
    if (tok == "m") {
      items.push_back({'m', 0, 0});
      continue;
    }
    const bool trans = !tok.empty() && tok.front() == 't';
    const bool padded = !trans && !tok.empty() && tok.back() == 'p';
    const std::string digits = tok.substr(trans ? 1 : 0, tok.size() - (trans ? 1 : 0) - (padded ? 1 : 0));
    if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos)
      throw ArchError(bad + " is not N, Np, tN or m (e.g. \"" + std::string(kDefaultArch) + "\")");
    const int n = std::stoi(digits);
    if (n < 1) throw ArchError(bad + ": a layer needs at least 1 channel");
    items.push_back({trans ? 't' : 'c', n, padded ? 1 : 0});
  }
  int last_block = -1;
  for (int i = 0; i < static_cast<int>(items.size()); ++i)
    if (items[i].kind == 'c') last_block = i;
  if (last_block < 0)
    throw ArchError("architecture '" + cfg.arch + "' has no 3x3 block (e.g. \"" + std::string(kDefaultArch) + "\")");
  int cin = 1;
  for (int i = 0; i < static_cast<int>(items.size()); ++i) {
    const Item& it = items[i];
    if (it.kind == 'm') {
      if (h < 2)
        throw ArchError("architecture '" + cfg.arch + "': max pool on a " + std::to_string(h) + "x" +
                        std::to_string(h) + " map");
      net->add(std::make_unique<MaxPool2x2>());
      h /= 2;
    } else if (it.kind == 't') {
      net->add(std::make_unique<Conv2d>(cin, it.channels, 1, 0, false, rng, dtype));
      cin = it.channels;
    } else {
      if (h + 2 * it.pad - 2 < 1)
        throw ArchError("architecture '" + cfg.arch + "': a 3x3 conv on a " + std::to_string(h) + "x" +
                        std::to_string(h) + " map; remove a layer or pad it (Np)");
      block(cin, it.channels, it.pad, i != last_block);
      cin = it.channels;
    }
  }
  net->add(std::make_unique<GlobalAvgPool>());
  net->add(std::make_unique<Conv2d>(cin, 10, 1, 0, false, rng, dtype));
  net->add(std::make_unique<Flatten>());
  return net;
}

}  // namespace normlab
