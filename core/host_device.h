// NL_HOST_DEVICE marks small inline functions that both the CPU and the CUDA backends call.
#pragma once
#if defined(__CUDACC__)
#define NL_HOST_DEVICE __host__ __device__
#else
#define NL_HOST_DEVICE
#endif
