// SPDX-License-Identifier: MIT
// Declaration stub for scripts/check-cuda.sh, used only when the CUDA toolkit has no cublas_v2.h (this machine's
// /usr/local/cuda has the runtime but not cuBLAS, cuSPARSE or cuSOLVER; Debian's nvidia-cuda-dev would be ~930 MB).
// It is passed with -idirafter, so a real cublas_v2.h wins. It holds only the names LibTorch 2.6's ATen/cuda headers
// (CUDAContextLight.h, Exceptions.h) use in declarations; the library's API is not here, so project code calling
// it fails the check. Never used by a real build.
#pragma once
#include <cuda_runtime_api.h>
#include <library_types.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
} cublasStatus_t;
struct cublasContext;
typedef struct cublasContext* cublasHandle_t;
#ifdef __cplusplus
}
#endif
