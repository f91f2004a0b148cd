// IDX files (the MNIST format): big-endian magic 0x000008TD (T = 0x08 for unsigned bytes,
// D = number of dimensions), D big-endian uint32 sizes, then the data. Read through zlib, which
// reads .gz and raw files alike. Every defect is an InputError naming the file and the fix:
// missing file, corrupt/truncated gzip, bad magic, wrong dimensionality or sizes, a length that
// does not match the header.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace normlab {

struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file of unsigned bytes with `ndims` dimensions.
IdxArray read_idx(const std::string& path, int ndims);

// The same from the file's bytes (gzip or raw), `name` naming it in errors. On success the product
// of dims equals data.size(). (read_idx reads the file and calls this; the fuzzer calls it directly.)
IdxArray parse_idx(const std::vector<uint8_t>& file_bytes, const std::string& name, int ndims);

}  // namespace normlab
