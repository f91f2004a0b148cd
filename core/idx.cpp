#include "core/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace normlab {
namespace {

const char* kFix = "re-download it with scripts/get-mnist.sh";

std::vector<uint8_t> read_all(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError(path + ": file not found; point --data (or MNIST_DIR) at the folder with the four MNIST "
                     "files, or fetch them with scripts/get-mnist.sh DIR");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw InputError(path + ": corrupt or truncated gzip data (" + msg + "); " + kFix);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  if (err != Z_OK && err != Z_STREAM_END)
    throw InputError(path + ": corrupt or truncated gzip data (" + msg + "); " + kFix);
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path, int ndims) {
  std::vector<uint8_t> raw = read_all(path);
  if (raw.size() < 4u + 4u * static_cast<unsigned>(ndims))
    throw InputError(path + ": file too short for an IDX header (" + std::to_string(raw.size()) + " bytes); " + kFix);
  const uint32_t magic = be32(raw.data());
  const uint32_t want = 0x00000800u | static_cast<uint32_t>(ndims);
  if (magic != want) {
    char b[160];
    std::snprintf(b, sizeof b, ": bad magic 0x%08x (expected 0x%08x, an IDX file of bytes with %d dimensions); ",
                  magic, want, ndims);
    throw InputError(path + b + kFix);
  }
  IdxArray a;
  uint64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    a.dims.push_back(be32(raw.data() + 4 + 4 * d));
    count *= a.dims.back();
  }
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(ndims);
  if (raw.size() != header + count)
    throw InputError(path + ": length " + std::to_string(raw.size()) + " bytes does not match its header (" +
                     std::to_string(header + count) + " expected): the file is truncated or corrupt; " + kFix);
  a.data.assign(raw.begin() + static_cast<std::ptrdiff_t>(header), raw.end());
  return a;
}

}  // namespace normlab
