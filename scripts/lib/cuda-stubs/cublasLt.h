// SPDX-License-Identifier: MIT
// Declaration stub for scripts/check-cuda.sh, used only when the CUDA toolkit has no cublasLt.h (this machine's
// /usr/local/cuda has the runtime but not cuBLAS, cuSPARSE or cuSOLVER; Debian's nvidia-cuda-dev would be ~930 MB).
// It is passed with -idirafter, so a real cublasLt.h wins. It holds only the names LibTorch 2.6's ATen/cuda headers
// (CUDAContextLight.h, Exceptions.h) use in declarations; the library's API is not here, so project code calling
// it fails the check. Never used by a real build.
#pragma once
#include <cublas_v2.h>
#ifdef __cplusplus
extern "C" {
#endif
struct cublasLtContext;
typedef struct cublasLtContext* cublasLtHandle_t;
#ifdef __cplusplus
}
#endif
