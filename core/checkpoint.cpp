#include "core/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file.h"

namespace normlab {
namespace {
constexpr char kMagic[8] = {'N', 'L', 'C', 'K', 'P', 'T', 0, 0};
constexpr uint32_t kVersion = 1;

template <typename T> void put(std::ostream& os, T v) { os.write(reinterpret_cast<const char*>(&v), sizeof v); }
template <typename T> T get(std::istream& is, const std::string& path) {
  T v{};
  if (!is.read(reinterpret_cast<char*>(&v), sizeof v)) throw InputError(path + ": checkpoint is truncated");
  return v;
}
}  // namespace

void save_checkpoint(const std::string& path, const NamedTensors& tensors) {
  std::ostringstream os;
  os.write(kMagic, sizeof kMagic);
  put<uint32_t>(os, kVersion);
  put<uint32_t>(os, static_cast<uint32_t>(tensors.size()));
  for (const auto& [name, t] : tensors) {
    put<uint32_t>(os, static_cast<uint32_t>(name.size()));
    os.write(name.data(), static_cast<std::streamsize>(name.size()));
    put<uint32_t>(os, static_cast<uint32_t>(t->dtype()));
    put<uint32_t>(os, static_cast<uint32_t>(t->ndim()));
    for (int64_t d : t->shape()) put<int64_t>(os, d);
    os.write(static_cast<const char*>(t->raw()), static_cast<std::streamsize>(t->nbytes()));
  }
  write_file_atomic(path, os.str());  // temp file + fsync + rename: never half-written
}

void load_checkpoint(const std::string& path, const NamedTensors& tensors) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw InputError(path + ": cannot open checkpoint");
  char magic[8];
  if (!is.read(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0)
    throw InputError(path + ": not a normlab checkpoint (bad magic)");
  const auto version = get<uint32_t>(is, path);
  if (version != kVersion)
    throw InputError(path + ": checkpoint version " + std::to_string(version) + ", this build reads " +
                     std::to_string(kVersion));
  const auto count = get<uint32_t>(is, path);
  if (count != tensors.size())
    throw InputError(path + ": holds " + std::to_string(count) + " tensors, the model has " +
                     std::to_string(tensors.size()) + " (different --norm or architecture?)");
  for (const auto& [name, t] : tensors) {
    const auto len = get<uint32_t>(is, path);
    std::string n(len, '\0');
    if (!is.read(n.data(), len)) throw InputError(path + ": checkpoint is truncated");
    if (n != name) throw InputError(path + ": expected tensor '" + name + "', found '" + n + "'");
    const auto dt = get<uint32_t>(is, path);
    const auto nd = get<uint32_t>(is, path);
    Shape s;
    for (uint32_t d = 0; d < nd; ++d) s.push_back(get<int64_t>(is, path));
    if (dt != static_cast<uint32_t>(t->dtype()) || s != t->shape())
      throw InputError(path + ": tensor '" + name + "' is " + shape_str(s) + ", the model expects " + t->describe());
    if (!is.read(static_cast<char*>(t->raw()), static_cast<std::streamsize>(t->nbytes())))
      throw InputError(path + ": checkpoint is truncated");
  }
}

}  // namespace normlab
