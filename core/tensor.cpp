#include "core/tensor.h"

#include "core/device.h"

#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sstream>

namespace normlab {

namespace {
// A training step frees and allocates the same activation-sized buffers every step. By default
// glibc serves blocks over 128 KiB-32 MiB with mmap and gives them back with munmap, so every
// step pays page faults and kernel zeroing for them (about 5% of a CPU epoch, measured with perf).
// Once per process: serve them from the heap and keep freed memory for the next step.
void keep_freed_memory() {
#ifdef __GLIBC__
  static const bool once = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)once;
#endif
}
}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
  }
  return "?";
}
const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }
std::size_t dtype_size(DType d) { return d == DType::f64 ? 8 : 4; }

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    NL_CHECK(d >= 0, "tensor: negative dimension in shape ", shape_str(s));
    n *= d;
  }
  return n;
}

namespace {
void require_cuda() {
  static std::string why;
  static const bool ok = cuda_available(&why);
  if (!ok) throw Error("tensor: no usable CUDA device: " + why);
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.numel_ = shape_numel(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  if (device == Device::cuda) {
    require_cuda();
    t.storage_ = std::shared_ptr<void>(cuda_alloc(t.nbytes()), [](void* q) { cuda_release(q); });
    return t;
  }
  keep_freed_memory();
  // 64-byte alignment for the vector units; at least one element so data() is never null.
  std::size_t bytes = std::max<std::size_t>(t.nbytes(), 64);
  bytes = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw Error("tensor: out of memory allocating " + std::to_string(bytes) + " bytes");
  t.storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill(value);
  return t;
}

Tensor Tensor::from(const Shape& shape, const std::vector<double>& values, DType dtype) {
  Tensor t = empty(shape, dtype);
  NL_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "tensor: ", values.size(),
           " values given for shape ", shape_str(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, values[static_cast<std::size_t>(i)]);
  return t;
}

int64_t Tensor::dim(int i) const {
  NL_CHECK(i >= 0 && i < ndim(), "tensor: dim ", i, " of a ", ndim(), "-d tensor ", shape_str(shape_));
  return shape_[static_cast<std::size_t>(i)];
}

void Tensor::check_type(DType want) const {
  NL_CHECK(defined(), "tensor: access to an undefined tensor");
  NL_CHECK(dtype_ == want, "tensor: asked for ", dtype_name(want), " data of a ", describe());
}

double Tensor::get(int64_t i) const {
  NL_CHECK(device_ == Device::cpu, "tensor: element access to a ", describe(), "; copy it with to_device(cpu)");
  switch (dtype_) {
    case DType::f32: return static_cast<double>(data<float>()[i]);
    case DType::f64: return data<double>()[i];
    case DType::i32: return static_cast<double>(data<int32_t>()[i]);
  }
  return 0;
}

void Tensor::set(int64_t i, double v) {
  NL_CHECK(device_ == Device::cpu, "tensor: element access to a ", describe(), "; copy it with to_device(cpu)");
  switch (dtype_) {
    case DType::f32: data<float>()[i] = static_cast<float>(v); break;
    case DType::f64: data<double>()[i] = v; break;
    case DType::i32: data<int32_t>()[i] = static_cast<int32_t>(v); break;
  }
}

void Tensor::fill(double v) {
  if (device_ == Device::cuda) {
    copy_from(full(shape_, v, dtype_));
    return;
  }
  for (int64_t i = 0; i < numel_; ++i) set(i, v);
}

void Tensor::zero_() {
  NL_CHECK(defined(), "tensor: zero_ of an undefined tensor");
  if (device_ == Device::cuda)
    cuda_memset_zero(raw(), nbytes());
  else
    std::memset(raw(), 0, nbytes());
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to_device(Device d) const {
  if (d == device_) return *this;
  Tensor t = empty(shape_, dtype_, d);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  NL_CHECK(defined() && src.defined(), "tensor: copy between undefined tensors");
  NL_CHECK(src.numel_ == numel_ && src.dtype_ == dtype_, "tensor: cannot copy a ", src.describe(), " into a ",
           describe());
  if (device_ == Device::cpu && src.device_ == Device::cpu)
    std::memcpy(raw(), src.raw(), nbytes());
  else
    cuda_copy(raw(), src.raw(), nbytes(), device_ == Device::cuda, src.device_ == Device::cuda);
}

Tensor Tensor::reshape(const Shape& s) const {
  NL_CHECK(shape_numel(s) == numel_, "tensor: cannot reshape ", shape_str(shape_), " to ", shape_str(s));
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t count) const {
  NL_CHECK(ndim() >= 1 && begin >= 0 && count >= 0 && begin + count <= shape_[0], "tensor: rows [", begin, ", ",
           begin + count, ") of ", describe());
  Tensor t = *this;
  t.shape_[0] = count;
  t.numel_ = shape_numel(t.shape_);
  const int64_t row = shape_[0] ? numel_ / shape_[0] : 0;
  // The aliasing constructor: the view owns the whole storage and points into it.
  t.storage_ = std::shared_ptr<void>(storage_, static_cast<char*>(storage_.get()) +
                                                   static_cast<std::size_t>(begin * row) * dtype_size(dtype_));
  return t;
}

std::vector<double> Tensor::to_vector() const {
  if (device_ == Device::cuda) return to_device(Device::cpu).to_vector();
  std::vector<double> v(static_cast<std::size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) v[static_cast<std::size_t>(i)] = get(i);
  return v;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device_name(device_);
}

void check_shape(const char* op, const char* name, const Tensor& t, const Shape& want) {
  NL_CHECK(t.defined(), op, ": ", name, " is undefined");
  NL_CHECK(t.shape() == want, op, ": ", name, " has shape ", shape_str(t.shape()), ", expected ",
           shape_str(want));
}

void check_same(const char* op, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  NL_CHECK(a.defined() && b.defined(), op, ": undefined tensor (", an, " or ", bn, ")");
  NL_CHECK(a.dtype() == b.dtype(), op, ": ", an, " is ", a.describe(), " but ", bn, " is ", b.describe());
  NL_CHECK(a.device() == b.device(), op, ": tensors on different devices (", an, " is ", a.describe(), ", ", bn,
           " is ", b.describe(), "); move them with to_device()");
}

}  // namespace normlab
