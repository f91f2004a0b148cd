// Tensor: a dense, contiguous, row-major (NCHW) array with a shape, a dtype and a device.
//
// float32 is the training type; float64 exists on the CPU path so that gradient checks can use
// finite differences without drowning in rounding. Storage is shared between copies of a Tensor
// (like a shared_ptr); clone() makes a deep copy.
//
// Device::cuda tensors live in GPU memory from the caching allocator (core/device.h); data<T>() is
// then a device pointer, for the CUDA kernels only. Element access (get/set/fill-by-element) is for
// CPU tensors; to_device() copies between the two. The CUDA kernels are float-only: an f64 CUDA
// tensor exists only for the epoch's metric sums (kernels/metrics.h); i32 for labels and indices.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace normlab {

enum class DType { f32, f64, i32 };  // i32: labels and max-pool indices
enum class Device { cpu, cuda };

const char* dtype_name(DType d);
const char* device_name(Device d);
std::size_t dtype_size(DType d);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;  // undefined tensor: defined() == false

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
  // A CPU tensor holding `values` (converted to dtype).
  static Tensor from(const Shape& shape, const std::vector<double>& values, DType dtype = DType::f32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const;
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel_) * dtype_size(dtype_); }

  template <typename T> T* data() {
    check_type(dtype_of<T>());
    return static_cast<T*>(storage_.get());
  }
  template <typename T> const T* data() const {
    check_type(dtype_of<T>());
    return static_cast<const T*>(storage_.get());
  }
  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }

  // Element access through double, for tests and small host-side code (CPU only).
  double get(int64_t i) const;
  void set(int64_t i, double v);

  void fill(double v);           // every element = v (either device)
  void zero_();                  // every element = 0 (either device, no host round trip)
  Tensor clone() const;          // deep copy on the same device
  Tensor to_device(Device d) const;      // copy on device d (shares storage when already there)
  void copy_from(const Tensor& src);     // same numel and dtype, any devices
  Tensor reshape(const Shape& s) const;  // same storage, new shape (numel must match)
  Tensor rows(int64_t begin, int64_t count) const;  // a view of dim-0 rows [begin, begin+count)
  std::vector<double> to_vector() const;  // (copies a CUDA tensor to the host first)
  std::string describe() const;  // e.g. "f32[128, 8, 26, 26] cpu"

 private:
  void check_type(DType want) const;

  std::shared_ptr<void> storage_;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu;
};

// Throws an Error naming `op` when the tensors' shapes/dtypes/devices disagree with what is asked.
void check_shape(const char* op, const char* name, const Tensor& t, const Shape& want);
void check_same(const char* op, const Tensor& a, const char* an, const Tensor& b, const char* bn);

}  // namespace normlab
