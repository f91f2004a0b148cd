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

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError(path + ": file not found; point --data (or MNIST_DIR) at the folder with the four MNIST "
                     "files, or fetch them with scripts/get-mnist.sh DIR");
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out.insert(out.end(), buf, buf + n);
  if (std::ferror(f.get())) throw InputError(path + ": read error (" + std::strerror(errno) + ")");
  return out;
}

// gzip data (one or more members, as gzip writes them) inflated; anything else returned as it is.
std::vector<uint8_t> gunzip_or_raw(const std::vector<uint8_t>& in, const std::string& name) {
  if (in.size() < 2 || in[0] != 0x1f || in[1] != 0x8b) return in;
  std::vector<uint8_t> out;
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) throw Error(name + ": zlib could not start");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  uint8_t buf[1 << 16];
  for (;;) {
    z.next_out = buf;
    z.avail_out = sizeof buf;
    const int r = inflate(&z, Z_NO_FLUSH);
    out.insert(out.end(), buf, buf + (sizeof buf - z.avail_out));
    if (r == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // another member follows
      continue;
    }
    if (r != Z_OK || (z.avail_in == 0 && z.avail_out != 0))
      throw InputError(name + ": corrupt or truncated gzip data (" + (z.msg ? z.msg : "unexpected end") + "); " +
                       kFix);
  }
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path, int ndims) { return parse_idx(read_file_bytes(path), path, ndims); }

IdxArray parse_idx(const std::vector<uint8_t>& file_bytes, const std::string& path, int ndims) {
  const std::vector<uint8_t> raw = gunzip_or_raw(file_bytes, path);
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
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(ndims);
  bool too_big = false;  // a product beyond the file's length (checked before it can overflow)
  for (int d = 0; d < ndims; ++d) {
    a.dims.push_back(be32(raw.data() + 4 + 4 * d));
    if (a.dims.back() != 0 && count > raw.size() / a.dims.back()) too_big = true;
    count *= a.dims.back();
  }
  if (too_big)
    throw InputError(path + ": length " + std::to_string(raw.size()) +
                     " bytes does not match its header (its sizes describe more data than that): the file is "
                     "truncated or corrupt; " + kFix);
  if (raw.size() != header + count)
    throw InputError(path + ": length " + std::to_string(raw.size()) + " bytes does not match its header (" +
                     std::to_string(header + count) + " expected): the file is truncated or corrupt; " + kFix);
  a.data.assign(raw.begin() + static_cast<std::ptrdiff_t>(header), raw.end());
  return a;
}

}  // namespace normlab
