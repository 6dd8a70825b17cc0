// SPDX-License-Identifier: MIT
// Declaration stub for scripts/check-cuda.sh, used only when the CUDA toolkit has no cusolver_common.h (this machine's
// /usr/local/cuda has the runtime but not cuBLAS, cuSPARSE or cuSOLVER; Debian's nvidia-cuda-dev would be ~930 MB).
// It is passed with -idirafter, so a real cusolver_common.h wins. It holds only the names LibTorch 2.6's ATen/cuda headers
// (CUDAContextLight.h, Exceptions.h) use in declarations; the library's API is not here, so project code calling
// it fails the check. Never used by a real build.
#pragma once
#include <library_types.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef enum {
  CUSOLVER_STATUS_SUCCESS = 0,
  CUSOLVER_STATUS_NOT_INITIALIZED = 1,
  CUSOLVER_STATUS_ALLOC_FAILED = 2,
  CUSOLVER_STATUS_INVALID_VALUE = 3,
  CUSOLVER_STATUS_ARCH_MISMATCH = 4,
  CUSOLVER_STATUS_MAPPING_ERROR = 5,
  CUSOLVER_STATUS_EXECUTION_FAILED = 6,
  CUSOLVER_STATUS_INTERNAL_ERROR = 7,
  CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED = 8,
  CUSOLVER_STATUS_NOT_SUPPORTED = 9
} cusolverStatus_t;
#ifdef __cplusplus
}
#endif
