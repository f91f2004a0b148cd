// NL_BACKENDS(declarations): states an op's kernel signatures once, for both backends with the
// same arguments — normlab::cpu (kernels/cpu/<op>.cpp: host pointers, T = float and double) and
// normlab::cuda (kernels/cuda/<op>.cu: device pointers, T = float, launched asynchronously on the
// default stream). The dispatcher calls either with one argument list (kernels/dispatch_impl.h).
#pragma once

#define NL_BACKENDS(...)   \
  namespace normlab::cpu { \
  __VA_ARGS__              \
  }                        \
  namespace normlab::cuda { \
  __VA_ARGS__              \
  }
