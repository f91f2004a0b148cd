// libFuzzer target for the IDX reader (core/idx.cpp): any bytes, gzip or raw, read as an IDX file of
// 1 and of 3 dimensions. A malformed file must end in an InputError (never a crash, a sanitizer
// report or a hang), and an accepted one must hold exactly as many bytes as its header's sizes say.
// Built and run by scripts/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined) from the seed corpus
// in tests/fuzz/idx/.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  for (int ndims : {1, 3}) {
    try {
      const normlab::IdxArray a = normlab::parse_idx(bytes, "fuzz-input", ndims);
      uint64_t n = 1;
      for (uint32_t d : a.dims) n *= d;
      if (a.dims.size() != static_cast<std::size_t>(ndims) || n != a.data.size()) __builtin_trap();
    } catch (const normlab::InputError&) {
      // rejected with a message: what a malformed file must do
    }
  }
  return 0;
}
