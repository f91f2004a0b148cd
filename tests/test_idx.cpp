// The IDX reader on good and malformed files (made here, in a temp folder).
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/idx.h"
#include "core/mnist.h"

using namespace normlab;
namespace fs = std::filesystem;

namespace {
std::vector<uint8_t> idx_bytes(uint32_t magic, std::vector<uint32_t> dims, std::size_t payload) {
  std::vector<uint8_t> b;
  auto be = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  };
  be(magic);
  for (auto d : dims) be(d);
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i % 251));
  return b;
}
void write_raw(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
void write_gz(const fs::path& p, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
}
struct TempDir {
  fs::path p = fs::temp_directory_path() / ("normlab_idx_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(p); }
  ~TempDir() { fs::remove_all(p); }
};
}  // namespace

TEST_CASE("IDX: raw and gzip files read the same", "[idx]") {
  TempDir t;
  const auto img = idx_bytes(0x803, {3, 28, 28}, 3 * 784);
  write_raw(t.p / "a.idx", img);
  write_gz(t.p / "a.idx.gz", img);
  const IdxArray r = read_idx((t.p / "a.idx").string(), 3), g = read_idx((t.p / "a.idx.gz").string(), 3);
  CHECK(r.dims == std::vector<uint32_t>{3, 28, 28});
  CHECK(r.data == g.data);
  CHECK(r.data.size() == 3 * 784);
  CHECK(r.data[300] == 300 % 251);
}

TEST_CASE("IDX: malformed files are rejected with a message naming file and fix", "[idx]") {
  TempDir t;
  const auto good = idx_bytes(0x803, {2, 28, 28}, 2 * 784);
  SECTION("missing") {
    REQUIRE_THROWS_WITH(read_idx((t.p / "none.gz").string(), 3), Catch::Contains("not found"));
  }
  SECTION("bad magic") {
    write_raw(t.p / "m", idx_bytes(0x801, {2, 28, 28}, 2 * 784));
    REQUIRE_THROWS_WITH(read_idx((t.p / "m").string(), 3), Catch::Contains("bad magic") && Catch::Contains("get-mnist"));
  }
  SECTION("short header") {
    write_raw(t.p / "s", {0, 0, 8});
    REQUIRE_THROWS_WITH(read_idx((t.p / "s").string(), 3), Catch::Contains("too short"));
  }
  SECTION("payload shorter than the header says") {
    auto b = good;
    b.resize(b.size() - 100);
    write_raw(t.p / "t", b);
    REQUIRE_THROWS_WITH(read_idx((t.p / "t").string(), 3), Catch::Contains("does not match its header"));
  }
  SECTION("header sizes whose product overflows 64 bits (2^22 x 2^21 x 2^21 = 2^64)") {
    write_raw(t.p / "o", idx_bytes(0x803, {1u << 22, 1u << 21, 1u << 21}, 0));
    REQUIRE_THROWS_WITH(read_idx((t.p / "o").string(), 3), Catch::Contains("does not match its header"));
  }
  SECTION("truncated gzip") {
    write_gz(t.p / "z.gz", good);
    fs::resize_file(t.p / "z.gz", fs::file_size(t.p / "z.gz") / 2);
    REQUIRE_THROWS_AS(read_idx((t.p / "z.gz").string(), 3), InputError);
  }
  SECTION("image and label counts differ") {
    write_gz(t.p / "train-images-idx3-ubyte.gz", good);
    write_gz(t.p / "train-labels-idx1-ubyte.gz", idx_bytes(0x801, {3}, 3));
    REQUIRE_THROWS_WITH(load_mnist(t.p.string(), true), Catch::Contains("2 images") && Catch::Contains("3 labels"));
  }
  SECTION("labels that are not digits") {
    write_gz(t.p / "train-images-idx3-ubyte.gz", good);
    write_gz(t.p / "train-labels-idx1-ubyte.gz", {0, 0, 8, 1, 0, 0, 0, 2, 3, 12});
    REQUIRE_THROWS_WITH(load_mnist(t.p.string(), true), Catch::Contains("not a digit"));
  }
  SECTION("a good pair loads, normalised") {
    write_gz(t.p / "train-images-idx3-ubyte.gz", good);
    write_gz(t.p / "train-labels-idx1-ubyte.gz", idx_bytes(0x801, {2}, 2));
    MnistSplit s = load_mnist(t.p.string(), true);
    CHECK(s.size() == 2);
    CHECK(s.images.shape() == Shape{2, 1, 28, 28});
    CHECK_THAT(s.images.get(0), Catch::Matchers::WithinAbs(-kMnistMean / kMnistStd, 1e-6));
    CHECK(s.labels.get(1) == 1);
  }
}
