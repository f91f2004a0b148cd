// Grid-stride loop over [0, n): `NL_GRID_LOOP(i, n) { ... }` inside a __global__ function.
#pragma once
#define NL_GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
