// SPDX-License-Identifier: MIT
// Declaration stub for scripts/check-cuda.sh, used only when the CUDA toolkit has no cusolverDn.h (this machine's
// /usr/local/cuda has the runtime but not cuBLAS, cuSPARSE or cuSOLVER; Debian's nvidia-cuda-dev would be ~930 MB).
// It is passed with -idirafter, so a real cusolverDn.h wins. It holds only the names LibTorch 2.6's ATen/cuda headers
// (CUDAContextLight.h, Exceptions.h) use in declarations; the library's API is not here, so project code calling
// it fails the check. Never used by a real build.
#pragma once
#include <cuda_runtime_api.h>
#include <cusolver_common.h>
#ifdef __cplusplus
extern "C" {
#endif
struct cusolverDnContext;
typedef struct cusolverDnContext* cusolverDnHandle_t;
#ifdef __cplusplus
}
#endif
